#!/usr/bin/env bash
# Two Rasa replicas + one action server behind nginx, on one machine (docs/deploy.md).
#
#   set -a; . deploy/production.env; set +a      # see deploy/production.env.example
#   bash deploy/run_two_instances.sh [MODEL]
#
# Needs PostgreSQL and Redis (scripts/services.sh starts the local ones) and nginx
# (apt-get install -y nginx). Everything binds to 127.0.0.1 (LB_HOST for the balancer).
# Renders deploy/nginx.conf.template into RUN_DIR, creates the tables (python -m deploy.init_db),
# starts the action server, Rasa 1 and 2 (with the production endpoints) and nginx under supervisord
# (scripts/supervise.sh: a process that dies is restarted with backoff, logged in
# RUN_DIR/supervisord.log), writes RUN_DIR/ready when everything answers, and stops everything on
# Ctrl-C / SIGTERM. For a real server, deploy/systemd/ has the same processes as systemd units.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODEL=${1:-${MADOGUCHI_MODEL:-$(ls -t models/*.tar.gz 2>/dev/null | head -1)}}
[ -n "$MODEL" ] && [ -f "$MODEL" ] || { echo "no model (make model, or pass a path)" >&2; exit 2; }
RUN_DIR=${RUN_DIR:-$ROOT/var/two-instances}
LB_HOST=${LB_HOST:-127.0.0.1}
LB_PORT=${LB_PORT:-8080}
RASA1_PORT=${RASA1_PORT:-5006}
RASA2_PORT=${RASA2_PORT:-5007}
ACTIONS_PORT=${ACTIONS_PORT:-5056}
LB_ROUTING=${LB_ROUTING:-sticky}
ENDPOINTS=${RASA_ENDPOINTS:-$ROOT/deploy/endpoints.production.yml}
PY=$ROOT/.venv/bin/python
RASA=$ROOT/.venv/bin/rasa
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

for v in MADOGUCHI_REDIS_HOST \
         MADOGUCHI_REDIS_PORT MADOGUCHI_REDIS_DB MADOGUCHI_REDIS_PREFIX MADOGUCHI_DB_URL MADOGUCHI_TRACKER_DB_URL \
         MADOGUCHI_SENDER_KEY MADOGUCHI_FERNET_KEYS; do
  [ -n "${!v:-}" ] || { echo "$v is not set (see deploy/production.env.example)" >&2; exit 2; }
done
export MADOGUCHI_PG_PASSWORD=${MADOGUCHI_PG_PASSWORD:-}
# issue 12: the outbox announces through a replica's API (with RASA_API_TOKEN); refuse unsafe setups.
export MADOGUCHI_RASA_URL=${MADOGUCHI_RASA_URL:-http://127.0.0.1:${RASA1_PORT}}
"$PY" -m deploy.preflight production || exit 2
case "$LB_ROUTING" in
  sticky) UPSTREAM=rasa_sticky ;;
  round_robin) UPSTREAM=rasa_round_robin ;;
  *) echo "LB_ROUTING must be sticky or round_robin" >&2; exit 2 ;;
esac
[ -x "$NGINX" ] || { echo "nginx not found (apt-get install -y nginx)" >&2; exit 2; }

export PYTHONPATH=$ROOT TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 RASA_TELEMETRY_ENABLED=false
export SANIC_HOST=127.0.0.1
. "$ROOT/scripts/serving_env.sh"  # deploy/serving.env
export MADOGUCHI_ACTIONS_URL="http://127.0.0.1:${ACTIONS_PORT}/webhook"
mkdir -p "$RUN_DIR"
rm -f "$RUN_DIR/ready"

sed -e "s#@RUN_DIR@#${RUN_DIR}#g" -e "s#@LB_HOST@#${LB_HOST}#g" -e "s#@LB_PORT@#${LB_PORT}#g" \
    -e "s#@RASA1_PORT@#${RASA1_PORT}#g" -e "s#@RASA2_PORT@#${RASA2_PORT}#g" \
    -e "s#@WEBHOOK_UPSTREAM@#${UPSTREAM}#g" -e "s#@REST_PUBLIC@#${MADOGUCHI_REST_PUBLIC:-0}#g" \
    deploy/nginx.conf.template > "$RUN_DIR/nginx.conf"
"$NGINX" -t -q -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" -g "daemon off;" 2>"$RUN_DIR/nginx-test.log" \
  || { cat "$RUN_DIR/nginx-test.log" >&2; exit 1; }

. "$ROOT/scripts/supervise.sh"
supervise_init "$RUN_DIR/supervisor" "$RUN_DIR/supervisord.log"

wait_for() { # url name seconds program
  local i
  for ((i = 0; i < $3 * 2; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    # Dying before it ever answered is a broken start (config, port), not a crash to ride out.
    if ! supervise_alive || supervise_exited "$4"; then
      echo "$2 exited during start-up; see $RUN_DIR/*.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "$2 did not come up; see $RUN_DIR/*.log" >&2
  return 1
}

$PY -m deploy.init_db ${INIT_DB_ARGS:-} >"$RUN_DIR/init_db.log" 2>&1 || { cat "$RUN_DIR/init_db.log" >&2; exit 1; }

supervise_program actions "$RUN_DIR/actions.log" "$PY" -m rasa_sdk --actions actions -p "$ACTIONS_PORT"
# Retention and erasure re-checks every hour (issue #12), supervised like the rest.
supervise_program purge "$RUN_DIR/purge.log" "$PY" -m bot.purge --every "${PURGE_EVERY_S:-3600}"
for n in 1 2; do
  port_var=RASA${n}_PORT
  supervise_program "rasa${n}" "$RUN_DIR/rasa${n}.log" "$RASA" run --enable-api --auth-token "$RASA_API_TOKEN" \
    -i 127.0.0.1 -p "${!port_var}" -m "$MODEL" --credentials "${RASA_CREDENTIALS:-$ROOT/credentials.yml}" \
    --endpoints "$ENDPOINTS"
done
supervise_program nginx "$RUN_DIR/nginx.log" "$NGINX" -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" -g "daemon off;"
supervise_start

wait_for "http://127.0.0.1:${ACTIONS_PORT}/health" "action server" 120 actions
wait_for "http://127.0.0.1:${RASA1_PORT}/" "Rasa 1" "${READY_TIMEOUT:-1200}" rasa1
wait_for "http://127.0.0.1:${RASA2_PORT}/" "Rasa 2" "${READY_TIMEOUT:-1200}" rasa2
wait_for "http://${LB_HOST}:${LB_PORT}/lb-health" "nginx" 30 nginx
for n in 1 2; do
  if grep -q "InMemoryTrackerStore\|Could not connect\|Error when trying to connect" "$RUN_DIR/rasa${n}.log"; then
    echo "Rasa $n is not using the production stores; see $RUN_DIR/rasa${n}.log" >&2
    exit 1
  fi
done
touch "$RUN_DIR/ready"
cat <<INFO
madoguchi: 2 Rasa replicas behind nginx ($LB_ROUTING routing), logs in $RUN_DIR/
  balancer   http://${LB_HOST}:${LB_PORT}/webhooks/line/webhook, /webhooks/telegram/webhook (REST: this machine only)
  rasa 1/2   http://127.0.0.1:${RASA1_PORT}  http://127.0.0.1:${RASA2_PORT}
  actions    http://127.0.0.1:${ACTIONS_PORT}/webhook
  model      $(basename "$MODEL")
Stop with Ctrl-C.
INFO
supervise_wait
