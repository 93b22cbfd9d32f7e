#!/usr/bin/env bash
# The web server, the same everywhere (make run, Docker, bench_api): uvicorn with uvloop and
# httptools, WEB_CONCURRENCY processes (default 2: one per core), each running sync requests on
# WEB_THREADS threads (autonomos/asgi.py). See docs/adr/0008-api-serving.md.
#   HOST (0.0.0.0) PORT (8000) WEB_CONCURRENCY (2); extra arguments go to uvicorn.
# Keys: the settings read them from the environment or the install's secrets file (var/secrets.env,
# AUTONOMOS_SECRETS_FILE), the same file as the worker and beat; production refuses to start without.
# --no-proxy-headers: uvicorn leaves X-Forwarded-For alone; only Django decides the client address,
# trusting as many proxies as TRUSTED_PROXY_COUNT says (autonomos/core/client_address.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || command -v python )}"
export WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"
exec "$PYTHON" -m uvicorn autonomos.asgi:application --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
  --workers "$WEB_CONCURRENCY" --loop uvloop --http httptools --ws websockets --lifespan off \
  --no-access-log --timeout-graceful-shutdown 5 --no-proxy-headers "$@"
