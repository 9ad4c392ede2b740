#!/usr/bin/env bash
# One command for event-driven, UI and backfill runs: starts a local Prefect server (UI at
# http://127.0.0.1:4200, unless one already answers there), creates the `recdo-local` process work
# pool, deploys the three deployments of prefect.yaml and runs a worker in the foreground.
# Ctrl-C stops the worker and the server this script started. Logs: .recdo/prefect-server.log.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PORT=${PREFECT_PORT:-4200}
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_API_URL="http://127.0.0.1:${PORT}/api"
mkdir -p .recdo

healthy() {
  "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1] + '/health', timeout=2)" "$PREFECT_API_URL" 2>/dev/null
}

if ! healthy; then
  "$VENV/bin/prefect" server start --host 127.0.0.1 --port "$PORT" > .recdo/prefect-server.log 2>&1 &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 240); do healthy && break; sleep 0.5; done
  healthy || { echo "serve.sh: the Prefect server did not answer on $PREFECT_API_URL; see .recdo/prefect-server.log" >&2; exit 1; }
fi

"$VENV/bin/prefect" work-pool inspect recdo-local > /dev/null 2>&1 \
  || "$VENV/bin/prefect" work-pool create recdo-local --type process
"$VENV/bin/prefect" --no-prompt deploy --all

cat <<MSG

recdo deployments are up; UI: http://127.0.0.1:${PORT}. In another terminal:
  export PREFECT_API_URL=$PREFECT_API_URL
  $VENV/bin/recdo watch incoming/ --db recdo.duckdb     # files landing in incoming/ start recdo-on-new-data/on-new-data
  $VENV/bin/prefect deployment run recdo-backfill/backfill -p start=2019-11-24 -p end=2019-11-30
Starting the worker (Ctrl-C stops it and the server).
MSG
"$VENV/bin/prefect" worker start --pool recdo-local --type process
