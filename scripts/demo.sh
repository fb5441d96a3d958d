#!/usr/bin/env bash
# The main job, from a fresh Debian machine to a running platform:
#   installs what is missing, starts the local MariaDB primary + replica and the metrics
#   store, migrates, loads sample data (once; --fresh reloads it), runs the WeCom gateway
#   simulator for a while, materializes every pipeline asset, then runs in the background
#   the worker (dispatch, retries, sweeps, partitions, gauges, tenant webhooks), the
#   Dagster daemon (the hourly schedule and the automation conditions), the Dagster UI and
#   the Streamlit app, and prints their addresses and demo logins.
#
#   scripts/demo.sh            # everything above
#   scripts/demo.sh --fresh    # wipe the sample data and seed it again
#   scripts/demo.sh --stop     # stop the worker, Dagster, the app, the metrics store and MariaDB
#
# Sizes: WEWORK_DEMO_MESSAGES (default 300000), WEWORK_DEMO_TENANTS (20),
# WEWORK_DEMO_ACCOUNTS (400), WEWORK_DEMO_DAYS (90). Ports: WEWORK_APP_PORT (8501),
# WEWORK_DAGSTER_PORT (3000), WEWORK_METRICS_PORT (18428). Logs: .data/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=${WEWORK_DATA_DIR:-$ROOT/.data}
LOGS=$DATA/logs
APP_PORT=${WEWORK_APP_PORT:-8501}
DAGSTER_PORT=${WEWORK_DAGSTER_PORT:-3000}
METRICS_PORT=${WEWORK_METRICS_PORT:-18428}
export WEWORK_INFLUX_URL=${WEWORK_INFLUX_URL:-http://127.0.0.1:$METRICS_PORT}
export DAGSTER_HOME=${DAGSTER_HOME:-$DATA/dagster}
W=.venv/bin/wework

stop_bg() {  # stop a background service started by this script (its whole process group)
  local pidfile=$DATA/$1.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -INT -- "-$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

start_bg() {  # start_bg NAME COMMAND...: in its own session (stoppable as a group), logged
  local name=$1; shift
  stop_bg "$name"
  setsid "$@" > "$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$DATA/$name.pid"
}

if [ "${1:-}" = "--stop" ]; then
  # The worker first: it finishes its sends in flight while the database is still up.
  stop_bg worker; stop_bg dagster-daemon; stop_bg dagster; stop_bg app
  [ -x $W ] && { $W metrics down --port "$METRICS_PORT" || true; $W db down; }
  exit 0
fi

./scripts/setup.sh
mkdir -p "$LOGS" "$DAGSTER_HOME"
echo "==> databases"
$W db up
$W db migrate
echo "==> metrics store (VictoriaMetrics, InfluxDB write API)"
$W metrics up --port "$METRICS_PORT"

echo "==> sample data"
if [ "${1:-}" = "--fresh" ]; then MODE=--replace; else MODE=--if-empty; fi
$W db seed $MODE \
  --tenants "${WEWORK_DEMO_TENANTS:-20}" --accounts "${WEWORK_DEMO_ACCOUNTS:-400}" \
  --days "${WEWORK_DEMO_DAYS:-90}" --messages "${WEWORK_DEMO_MESSAGES:-300000}"

echo "==> live activity: the WeCom gateway simulator for 20 s"
$W simulate --seconds 20 --seed 1
$W metrics collect

echo "==> pipelines: every asset materialized once"
$W etl run

echo "==> running: worker, Dagster daemon and UI, app"
start_bg worker $W worker
cp deploy/dagster/dagster.yaml "$DAGSTER_HOME/dagster.yaml"  # one warehouse writer at a time
start_bg dagster-daemon .venv/bin/dagster-daemon run -m pipelines.definitions
start_bg dagster .venv/bin/dagster-webserver -m pipelines.definitions -h 127.0.0.1 \
  -p "$DAGSTER_PORT"
start_bg app .venv/bin/python -m streamlit run app/main.py --server.headless true \
  --server.port "$APP_PORT" --server.address 127.0.0.1 --browser.gatherUsageStats false
for _ in $(seq 120); do
  curl -fs "http://127.0.0.1:$APP_PORT/_stcore/health" >/dev/null 2>&1 && break; sleep 0.5
done
curl -fs "http://127.0.0.1:$APP_PORT/_stcore/health" >/dev/null || {
  echo "the app did not start; see $LOGS/app.log"; exit 1; }

$W db status || true
echo
echo "WeWork app:  http://127.0.0.1:$APP_PORT"
echo "Dagster UI:  http://127.0.0.1:$DAGSTER_PORT  (starting; log in $LOGS/dagster.log)"
echo "Worker:      log in $LOGS/worker.log; \`$W worker status\` shows its jobs and queues"
echo "Metrics:     $WEWORK_INFLUX_URL"
echo "Demo logins:"
sed 's/^/  /' "$DATA/demo-logins.txt"
echo "Stop everything: scripts/demo.sh --stop"
