#!/usr/bin/env bash
# Stop web, worker and beat started by scripts/run.sh.
cd "$(dirname "$0")/.."
for name in web worker beat; do
  pidfile="var/run/$name.pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null && echo "stopped $name"
    rm -f "$pidfile"
  fi
done
