#!/usr/bin/env bash
# The whole test suite against the real PostgreSQL and Redis (a test database and Redis db of its own).
source "$(dirname "$0")/lib.sh"
bootstrap_venv requirements-dev.txt
ensure_services
if [ -x scripts/browser.sh ]; then bash scripts/browser.sh; fi
export DJANGO_SETTINGS_MODULE=autonomos.settings.test
say "checking lint (ruff)"
"$VENV/bin/ruff" check --quiet . || die "lint errors: fix them (ruff check . shows them)"
say "checking migrations are complete"
DATABASE_POOL=false "$PY" manage.py makemigrations --check --dry-run >/dev/null || die "a model change has no migration: run python manage.py makemigrations"
say "running tests"
set +e
"$PY" -m pytest "$@"
rc=$?
set -e
[ "$rc" -eq 5 ] && die "pytest collected no tests"
exit "$rc"
