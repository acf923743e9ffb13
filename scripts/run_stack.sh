#!/usr/bin/env bash
# Starts the whole local stack: action server, Rasa (REST + configured channels), staff app,
# under supervisord (scripts/supervise.sh): a process that dies is restarted, with backoff, and
# the restart is logged in $VAR_DIR/log/supervisord.log. Ctrl-C stops all of it.
# Everything binds to 127.0.0.1 unless HOST says otherwise.
# RASA_PORT / ACTIONS_PORT / STAFF_PORT and MADOGUCHI_VAR_DIR (default var/) let a second stack
# (the tests') run beside yours.
set -euo pipefail
MODEL=${1:?model path}
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
RASA_PORT=${RASA_PORT:-5005}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
STAFF_PORT=${STAFF_PORT:-8000}
VAR_DIR=${MADOGUCHI_VAR_DIR:-$PWD/var}
mkdir -p "$VAR_DIR/log"
PY=.venv/bin/python
export PYTHONPATH=$PWD TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 RASA_TELEMETRY_ENABLED=false
export SANIC_HOST=127.0.0.1  # issue 12: the action server (no auth) listens on loopback whatever HOST is
export MADOGUCHI_VAR_DIR=$VAR_DIR
. scripts/serving_env.sh  # deploy/serving.env
export MADOGUCHI_ACTIONS_URL="http://127.0.0.1:${ACTIONS_PORT}/webhook"
export MADOGUCHI_RASA_URL="http://127.0.0.1:${RASA_PORT}"
export MADOGUCHI_PUBLIC_URL=${MADOGUCHI_PUBLIC_URL:-http://127.0.0.1:${STAFF_PORT}}
HOST=$HOST $PY -m deploy.preflight local || exit 2  # issue 12: a non-loopback HOST needs RASA_API_TOKEN + MADOGUCHI_REST_TOKEN
# The database at the migrations' head (an older var/madoguchi.db too) before any process starts
# (issue 19): the processes then find it ready rather than racing to migrate it.
$PY -m bot.store.migrations upgrade >"$VAR_DIR/log/db-upgrade.log" 2>&1 || { cat "$VAR_DIR/log/db-upgrade.log" >&2; exit 1; }

# endpoints.yml names the default action port and var/tracker.db: follow ACTIONS_PORT and VAR_DIR.
ENDPOINTS=${RASA_ENDPOINTS:-}
if [ -z "$ENDPOINTS" ]; then
  ENDPOINTS=$VAR_DIR/run/endpoints.yml
  mkdir -p "$VAR_DIR/run"
  sed -e "s#http://127.0.0.1:5055/webhook#${MADOGUCHI_ACTIONS_URL}#" \
      -e "s#\"var/tracker.db\"#\"${VAR_DIR}/tracker.db\"#" endpoints.yml >"$ENDPOINTS"
fi

. scripts/supervise.sh
supervise_init "$VAR_DIR/run" "$VAR_DIR/log/supervisord.log"

wait_for() { # url name seconds program
  for _ in $(seq 1 "$3"); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    # Dying before it ever answered is a broken start (config, port), not a crash to ride out.
    if ! supervise_alive || supervise_exited "$4"; then
      echo "$2 exited during start-up; see $VAR_DIR/log/" >&2; return 1
    fi
    sleep 1
  done
  echo "$2 did not start; see $VAR_DIR/log/" >&2; return 1
}

supervise_program actions "$VAR_DIR/log/actions.log" $PY -m rasa_sdk --actions actions -p "$ACTIONS_PORT"
# RASA_API_TOKEN (when set) reaches Rasa through its environment, never its command line (issue 21).
supervise_program rasa "$VAR_DIR/log/rasa.log" $PY -m deploy.rasa_serve run --enable-api -i "$HOST" -p "$RASA_PORT" \
  -m "$MODEL" --credentials credentials.yml --endpoints "$ENDPOINTS"
if [ -f staff/__main__.py ]; then
  supervise_program staff "$VAR_DIR/log/staff.log" $PY -m staff --host "$HOST" --port "$STAFF_PORT"
fi
supervise_start

wait_for "http://127.0.0.1:${ACTIONS_PORT}/health" "action server" 60 actions
wait_for "http://127.0.0.1:${RASA_PORT}/" "Rasa" 420 rasa
[ -f staff/__main__.py ] && wait_for "http://127.0.0.1:${STAFF_PORT}/login" "staff app" 60 staff

cat <<INFO

madoguchi is running (logs in ${VAR_DIR}/log/):
  Rasa REST      http://${HOST}:${RASA_PORT}/webhooks/rest/webhook   (model $(basename "$MODEL"))
  Actions        http://127.0.0.1:${ACTIONS_PORT}/webhook
  Staff app      http://${HOST}:${STAFF_PORT}/   (create an account: make staff-user)
  Channels       LINE $( [ -n "${LINE_CHANNEL_SECRET:-}" ] && echo on || echo off ), Telegram $( [ -n "${TELEGRAM_BOT_TOKEN:-}" ] && echo on || echo off )
  Storage        ${MADOGUCHI_DB_URL:-sqlite:///${VAR_DIR}/madoguchi.db} (tickets), ${VAR_DIR}/tracker.db (conversations)
  Supervision    a process that dies is restarted (${VAR_DIR}/log/supervisord.log)

Talk to it:
  curl -s localhost:${RASA_PORT}/webhooks/rest/webhook -H 'Content-Type: application/json' \\
       -d '{"sender":"demo","message":"こんにちは"}'
  or in another terminal: .venv/bin/rasa shell -m ${MODEL}
Stop with Ctrl-C.
INFO
supervise_wait
