#!/usr/bin/env bash
# The main job, from a fresh Debian machine to a running platform:
#   installs what is missing, starts the local MariaDB primary + replica, Redis and the
#   metrics store, migrates, loads sample data (once; --fresh reloads it), then runs the
#   live loop over the network as production does: the HTTP API (`wework api`: signed
#   gateway callbacks), the WeCom gateway SIMULATOR as an HTTP server (`wework gateway-sim
#   serve`: takes sends, posts signed receipts, status changes and heartbeats back to the
#   API; continuous, low rate: logins, heartbeats, disconnects and reconnects) and the
#   worker sending to it (WEWORK_GATEWAY_URL: dispatch, retries, sweeps, partitions,
#   gauges, tenant webhooks). With that loop running it materializes every pipeline asset
#   and builds the notebook reports, then runs in the background the Dagster daemon (the
#   hourly schedule and the automation conditions), the Dagster UI, the Streamlit app and
#   JupyterLab on notebooks/ (a generated token, .py sources opened as notebooks through
#   jupytext), and prints their addresses and demo logins.
#
#   scripts/demo.sh            # everything above
#   scripts/demo.sh --stop     # stop the worker, the simulator, the API, Dagster, the app,
#                              # JupyterLab, the metrics store, Redis and MariaDB
#   scripts/demo.sh --fresh    # wipe the sample data and seed it again
#
# The simulator signs its callbacks with a gateway secret issued once through `wework
# gateway secrets create` and kept in $WEWORK_DATA_DIR/gateway-sim.secret (mode 600); it is
# issued again only when the database no longer holds it as active (after --fresh). The
# gateway's API token (WEWORK_GATEWAY_TOKEN, sent by the worker, checked by the simulator)
# is generated once into $WEWORK_DATA_DIR/gateway.token (mode 600).
#
# Sample data size (arguments of this script, not platform settings): DEMO_MESSAGES
# (default 300000), DEMO_TENANTS (20), DEMO_ACCOUNTS (400), DEMO_DAYS (90). Ports and
# folders are settings (environment, .env or local.env, see `wework config show`):
# WEWORK_APP_PORT (8501), WEWORK_DAGSTER_PORT (3000), WEWORK_JUPYTER_PORT (8888),
# WEWORK_API_PORT (8080), WEWORK_GATEWAY_SIM_PORT (8090), WEWORK_REDIS_PORT (16379),
# WEWORK_DATA_DIR; metrics 18428. Every server listens on
# 127.0.0.1 only: the Dagster UI and the metrics store have no login of their own (in
# production they sit behind an authenticating proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
export WEWORK_INFLUX_URL=${WEWORK_INFLUX_URL:-http://127.0.0.1:18428}
W=.venv/bin/wework
setting() { $W config get "$1"; }

stop_bg() {  # stop a background service started by this script (its whole process group)
  local pidfile=$DATA/$1.pid signal=${2:-INT}  # JupyterLab asks for confirmation on INT
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "-$signal" -- "-$(cat "$pidfile")" 2>/dev/null || true
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

wait_ready() {  # wait_ready URL NAME: until the server answers (60 s), else show its log
  for _ in $(seq 120); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "$2 did not start; see $LOGS/$2.log"; exit 1
}

if [ "${1:-}" = "--stop" ]; then
  [ -x $W ] || exit 0
  DATA=$(setting data_dir)
  # The worker first: it finishes its sends in flight while the database is still up.
  # Then the simulator (its callbacks still pending are flushed to the API, still up).
  stop_bg worker; stop_bg gateway-sim; stop_bg api
  stop_bg dagster-daemon; stop_bg dagster; stop_bg app; stop_bg jupyter TERM
  $W metrics down || true; $W cache down || true; $W db down
  exit 0
fi

./scripts/setup.sh
DATA=$(setting data_dir)
LOGS=$DATA/logs
APP_PORT=$(setting app_port)
DAGSTER_PORT=$(setting dagster_port)
JUPYTER_PORT=$(setting jupyter_port)
API_URL=http://127.0.0.1:$(setting api_port)
SIM_URL=http://127.0.0.1:$(setting gateway_sim_port)
# The Dagster instance (dagster.yaml written there) that `wework etl run` records its runs
# in, so the UI started below lists them.
export DAGSTER_HOME=$($W etl home)
mkdir -p "$LOGS"
echo "==> databases"
$W db up
$W db migrate
echo "==> Redis (cache; never the source of truth)"
$W cache up
echo "==> metrics store (VictoriaMetrics, InfluxDB write API)"
$W metrics up

echo "==> sample data"
if [ "${1:-}" = "--fresh" ]; then MODE=--replace; else MODE=--if-empty; fi
$W db seed $MODE \
  --tenants "${DEMO_TENANTS:-20}" --accounts "${DEMO_ACCOUNTS:-400}" \
  --days "${DEMO_DAYS:-90}" --messages "${DEMO_MESSAGES:-300000}"

echo "==> the live loop: API, gateway simulator (HTTP) and the worker sending to it"
SIM_SECRET=$DATA/gateway-sim.secret
SIM_GATEWAY=demo-gateway-sim
if [ ! -s "$SIM_SECRET" ] || ! $W gateway secrets list | grep -Eq "^$SIM_GATEWAY +[^ ]+ +[^ ]+ +active"; then
  rm -f "$SIM_SECRET"  # lost, or the database no longer holds it (--fresh wipes every table)
  $W gateway secrets rotate "$SIM_GATEWAY" --grace-hours 0 --output-file "$SIM_SECRET" \
    2>/dev/null || $W gateway secrets create "$SIM_GATEWAY" --output-file "$SIM_SECRET"
fi
start_bg api $W api --host 127.0.0.1 --no-access-log
wait_ready "$API_URL/healthz" api
# The gateway's API token (sends carry it as a bearer token; the simulator checks it):
# generated once into the data directory (mode 600), passed in the environment.
GATEWAY_TOKEN_FILE=$DATA/gateway.token
[ -s "$GATEWAY_TOKEN_FILE" ] || (umask 077; .venv/bin/python -c \
  'import secrets; print(secrets.token_urlsafe(32))' > "$GATEWAY_TOKEN_FILE")
WEWORK_GATEWAY_TOKEN=$(cat "$GATEWAY_TOKEN_FILE")
export WEWORK_GATEWAY_TOKEN
# --login-accounts: the simulator learns the instances from the database and logs the
# offline ones in (a real gateway knows its own); every 5 s it ticks: heartbeats of the
# online instances, a few disconnects and reconnects. A few sends are refused (retried by
# the worker) and a few receipts report failure.
start_bg gateway-sim $W gateway-sim serve --host 127.0.0.1 --callback-url "$API_URL" \
  --secret-file "$SIM_SECRET" --login-accounts --activity-every 5 --latency-ms 20 \
  --failure-rate 0.02 --delivery-failure-rate 0.02 --disconnect-rate 0.002
wait_ready "$SIM_URL/healthz" gateway-sim
start_bg worker env WEWORK_GATEWAY_URL="$SIM_URL" $W worker
export -n WEWORK_GATEWAY_TOKEN
$W metrics collect

echo "==> pipelines: every asset materialized once"
$W etl run

echo "==> notebook reports: every notebook, platform-wide and per tenant"
$W reports build || echo "(some reports failed: \`wework reports list\` and the app show which)"

echo "==> running: Dagster daemon and UI, app, JupyterLab"
start_bg dagster-daemon .venv/bin/dagster-daemon run -m pipelines.definitions
start_bg dagster .venv/bin/dagster-webserver -m pipelines.definitions -h 127.0.0.1 \
  -p "$DAGSTER_PORT"
# wework app serve: the one way the app is started (its settings: app/.streamlit/config.toml)
start_bg app $W app serve --port "$APP_PORT" --address 127.0.0.1
# JupyterLab on the notebooks: a fresh token each start (passed in the environment, not on
# the command line where `ps` shows it), loopback only, the .py sources opened as notebooks.
JUPYTER_TOKEN=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')
JUPYTERLAB_SETTINGS_DIR=$DATA/jupyter/lab-settings
mkdir -p "$JUPYTERLAB_SETTINGS_DIR/@jupyterlab/docmanager-extension"
echo '{"defaultViewers": {"python": "Jupytext Notebook"}}' \
  > "$JUPYTERLAB_SETTINGS_DIR/@jupyterlab/docmanager-extension/plugin.jupyterlab-settings"
AS_ROOT=(); [ "$(id -u)" = 0 ] && AS_ROOT=(--allow-root)  # the demo runs as root on a fresh box
export JUPYTER_TOKEN JUPYTERLAB_SETTINGS_DIR
start_bg jupyter .venv/bin/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 \
  --ServerApp.port="$JUPYTER_PORT" --ServerApp.port_retries=0 "${AS_ROOT[@]}" \
  --ServerApp.root_dir="$PWD/notebooks"
export -n JUPYTER_TOKEN JUPYTERLAB_SETTINGS_DIR
wait_ready "http://127.0.0.1:$APP_PORT/_stcore/health" app

$W db status || true
echo
echo "WeWork app:  http://127.0.0.1:$APP_PORT"
echo "Dagster UI:  http://127.0.0.1:$DAGSTER_PORT  (starting; log in $LOGS/dagster.log)"
echo "HTTP API:    $API_URL  (POST /v1/callbacks, /healthz, /readyz; log in $LOGS/api.log)"
echo "Gateway sim: $SIM_URL  (SIMULATOR of the WeCom gateway; /_sim/stats; log in $LOGS/gateway-sim.log)"
echo "Worker:      sends to $SIM_URL; log in $LOGS/worker.log; \`$W worker status\` shows its jobs and queues"
echo "JupyterLab:  http://127.0.0.1:$JUPYTER_PORT/lab?token=$JUPYTER_TOKEN  (notebooks/)"
echo "Metrics:     $WEWORK_INFLUX_URL"
echo "Redis:       $($W cache status 2>&1 | head -1) (password in $DATA/local.env)"
echo "Demo logins:"
sed 's/^/  /' "$(setting demo_logins_file)"
echo "Stop everything: scripts/demo.sh --stop"
