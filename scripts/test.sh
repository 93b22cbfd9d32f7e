#!/usr/bin/env bash
# The whole test suite against the real PostgreSQL and Redis (a test database and Redis db of its own).
source "$(dirname "$0")/lib.sh"
bootstrap_venv requirements-dev.txt
bootstrap_focus_venv
# the FOCUS export's test runs the validator; with the suite it must (not skip)
export FOCUS_VALIDATOR="$ROOT/.venv-focus/bin/focus-validator" FOCUS_VALIDATOR_REQUIRED=1
ensure_services
if [ -x scripts/browser.sh ]; then bash scripts/browser.sh; fi
export DJANGO_SETTINGS_MODULE=autonomos.settings.test
say "checking lint (ruff)"
"$VENV/bin/ruff" check --quiet . || die "lint errors: fix them (ruff check . shows them)"
say "checking migrations are complete"
DATABASE_POOL=false "$PY" manage.py makemigrations --check --dry-run >/dev/null || die "a model change has no migration: run python manage.py makemigrations"
say "checking the layers and import circles (lint-imports)"
"$VENV/bin/lint-imports" --no-cache >"${TMPDIR:-/tmp}/lint-imports.$$" 2>&1 || {
    sed -n '/Broken contracts/,$p' "${TMPDIR:-/tmp}/lint-imports.$$"; rm -f "${TMPDIR:-/tmp}/lint-imports.$$"
    die "an import runs up the layers or closes a circle inside an app (above; the contracts are in pyproject.toml, the why in docs/adr/0011-layers-and-redis-names.md)"
}
rm -f "${TMPDIR:-/tmp}/lint-imports.$$"
# Two pytest-xdist workers per core, at most 6 (TEST_WORKERS overrides; 1 runs in one process), each
# with a test database, Redis db and data folder of its own (autonomos/settings/test.py); tests of one
# file stay in one worker. Two per core because a test spends much of its time waiting on PostgreSQL,
# Redis, a browser or a process it started (on 2 cores the suite took 7m49 with 2 workers, 6m58 with 3,
# 6m27 with 4). Not when the caller chose (-n) or turned xdist off (-p no:xdist).
cores="$(nproc 2>/dev/null || echo 1)"
workers="${TEST_WORKERS:-$(( cores * 2 > 6 ? 6 : cores * 2 ))}"
xdist=()
case " $* " in
    *" -n "*|*" -n="*|*"no:xdist"*) ;;
    *) if [ "$workers" -gt 1 ] 2>/dev/null; then xdist=(-n "$workers" --dist loadfile); fi ;;
esac
say "running tests${xdist:+ (${workers} workers)}"
set +e
"$PY" -m pytest "${xdist[@]}" "$@"
rc=$?
set -e
[ "$rc" -eq 5 ] && die "pytest collected no tests"
exit "$rc"
