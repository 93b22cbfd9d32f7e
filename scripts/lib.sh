# Shared shell helpers for the set-up, run and test scripts. Source it; do not run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31mxx\033[0m %s\n' "$*" >&2; exit 1; }

# bootstrap_venv FILE: a venv with FILE's requirements, reinstalled only when FILE (or what it includes) changes.
bootstrap_venv() {
  local req="$1"
  command -v python3 >/dev/null || die "python3 is missing: install Python 3.11+ (apt-get install python3 python3-venv)"
  python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || die "Python 3.11+ is needed, found $(python3 --version)"
  if [ ! -x "$PY" ]; then
    say "creating .venv"
    python3 -m venv "$VENV" || die "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"
  fi
  local stamp="$VENV/.installed-$(basename "$req")"
  local sum; sum="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    say "installing $req"
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet -r "$req"
    echo "$sum" > "$stamp"
  fi
}

# bootstrap_focus_venv: .venv-focus with requirements-focus.txt (the FinOps Foundation's FOCUS validator, which
# cannot share the project's environment: docs/adr/0030), reinstalled only when that file changes.
bootstrap_focus_venv() {
  local venv="$ROOT/.venv-focus"
  if [ ! -x "$venv/bin/python" ]; then
    say "creating .venv-focus (the FOCUS validator)"
    python3 -m venv "$venv" || die "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"
  fi
  local stamp="$venv/.installed"
  local sum; sum="$(sha256sum requirements-focus.txt | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    say "installing requirements-focus.txt"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -r requirements-focus.txt
    echo "$sum" > "$stamp"
  fi
}

port_open() { "$PY" - "$1" "$2" <<'PYEOF'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("open")
except OSError:
    sys.exit(1)
PYEOF
}

# ensure_services: PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 — use running ones,
# start installed ones, else docker compose when Docker runs, else say what to install.
ensure_services() {
  if ! port_open 127.0.0.1 5432 >/dev/null 2>&1; then
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      say "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
      say "starting PostgreSQL with docker compose"; docker compose up -d postgres
    fi
  fi
  if ! port_open 127.0.0.1 6379 >/dev/null 2>&1; then
    if command -v redis-server >/dev/null 2>&1; then
      say "starting Redis"
      redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
      say "starting Redis with docker compose"; docker compose up -d redis
    fi
  fi
  for i in $(seq 1 30); do
    port_open 127.0.0.1 5432 >/dev/null 2>&1 && port_open 127.0.0.1 6379 >/dev/null 2>&1 && return 0
    sleep 1
  done
  port_open 127.0.0.1 5432 >/dev/null 2>&1 || die "PostgreSQL is not reachable on 127.0.0.1:5432. Install it: apt-get install postgresql (trust auth for 127.0.0.1), or run: docker compose up -d postgres"
  die "Redis is not reachable on 127.0.0.1:6379. Install it: apt-get install redis-server, or run: docker compose up -d redis"
}

# ensure_database NAME: create the PostgreSQL database if it does not exist.
ensure_database() {
  "$PY" - "$1" <<'PYEOF'
import os, sys
import psycopg
name = sys.argv[1]
url = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
with psycopg.connect(url, autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        conn.execute(f'CREATE DATABASE "{name}"')
        print(f"created database {name}")
PYEOF
}

# ensure_secrets: this install's own DJANGO_SECRET_KEY, JWT_SIGNING_KEY and CONNECTION_SECRETS_KEYS in
# var/secrets.env (or AUTONOMOS_SECRETS_FILE), made once with mode 600 and reused by every later run.
# The settings of web, worker, beat and manage.py all read that file (autonomos/core/secrets.py).
ensure_secrets() {
  local note
  note="$("$PY" -m autonomos.core.secrets ensure)" || die "could not create the secrets file (the error is above)"
  say "$note"
}
