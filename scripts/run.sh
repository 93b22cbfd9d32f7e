#!/usr/bin/env bash
# One command: install, start PostgreSQL and Redis, migrate, seed the demo tenant, start web + worker + beat.
source "$(dirname "$0")/lib.sh"
bootstrap_venv requirements.txt
ensure_services
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-autonomos.settings.local}"
DB_NAME="${AUTONOMOS_DB_NAME:-autonomos}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/$DB_NAME}"
ensure_database "$DB_NAME"
mkdir -p var/run var/log
ensure_secrets
bash scripts/stop.sh >/dev/null 2>&1 || true
if [ "${DISABLE_AUTO_MIGRATIONS:-0}" != "1" ]; then
  say "applying migrations (public and every tenant)"
  "$PY" manage.py migrate_schemas --executor=standard >var/log/migrate.log 2>&1 || { tail -30 var/log/migrate.log; die "migrations failed (var/log/migrate.log)"; }
fi
say "seeding the demo tenant"
"$PY" manage.py seed_demo
PORT="${PORT:-8000}"
export WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"
say "starting web (uvicorn :$PORT, $WEB_CONCURRENCY processes), worker and beat"
PYTHON="$PY" PORT="$PORT" nohup bash scripts/web.sh >var/log/web.log 2>&1 & echo $! > var/run/web.pid
nohup "$VENV/bin/celery" -A autonomos worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" >var/log/worker.log 2>&1 & echo $! > var/run/worker.pid
nohup "$VENV/bin/celery" -A autonomos beat --loglevel=INFO --scheduler django_celery_beat.schedulers:DatabaseScheduler >var/log/beat.log 2>&1 & echo $! > var/run/beat.pid
for i in $(seq 1 40); do
  if curl -fsS "http://demo.localhost:$PORT/healthz" >/dev/null 2>&1 || "$PY" -c "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$PORT/healthz', headers={'Host': 'demo.localhost'}), timeout=2)" >/dev/null 2>&1; then
    cat <<MSG

  AutonomOS is running.
    URL:       http://demo.localhost:$PORT/
    Login:     admin / AutonomOS-demo-2026
    API docs:  http://demo.localhost:$PORT/api/docs/
    Admin:     http://demo.localhost:$PORT/admin/
    Logs:      var/log/   Stop: make stop

MSG
    exit 0
  fi
  sleep 0.5
done
tail -20 var/log/web.log
die "the web server did not come up (var/log/web.log)"
