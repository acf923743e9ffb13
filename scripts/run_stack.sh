#!/usr/bin/env bash
# Starts the whole local stack: action server, Rasa (REST + configured channels), staff app.
# Everything binds to 127.0.0.1 unless HOST says otherwise. Ctrl-C stops all of it.
set -euo pipefail
MODEL=${1:?model path}
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
RASA_PORT=${RASA_PORT:-5005}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
STAFF_PORT=${STAFF_PORT:-8000}
mkdir -p var/log
PY=.venv/bin/python
export PYTHONPATH=$PWD TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1 RASA_TELEMETRY_ENABLED=false
export SANIC_HOST=127.0.0.1  # issue 12: the action server (no auth) listens on loopback whatever HOST is
# shellcheck source=../deploy/serving.env
while IFS='=' read -r key value; do
  [[ -z "$key" || "$key" == \#* || -n "${!key:-}" ]] || export "$key=$value"
done < deploy/serving.env
export MADOGUCHI_ACTIONS_URL="http://127.0.0.1:${ACTIONS_PORT}/webhook"
export MADOGUCHI_RASA_URL="http://127.0.0.1:${RASA_PORT}"
export MADOGUCHI_PUBLIC_URL=${MADOGUCHI_PUBLIC_URL:-http://127.0.0.1:${STAFF_PORT}}
HOST=$HOST $PY -m deploy.preflight local || exit 2  # issue 12: a non-loopback HOST needs RASA_API_TOKEN + MADOGUCHI_REST_TOKEN

pids=()
cleanup() { trap - EXIT INT TERM; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

wait_for() { # url name seconds
  for _ in $(seq 1 "$3"); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 1; done
  echo "$2 did not start; see var/log/" >&2; return 1
}

$PY -m rasa_sdk --actions actions -p "$ACTIONS_PORT" >var/log/actions.log 2>&1 & pids+=($!)
auth=()
[ -n "${RASA_API_TOKEN:-}" ] && auth=(--auth-token "$RASA_API_TOKEN")
.venv/bin/rasa run --enable-api -i "$HOST" -p "$RASA_PORT" -m "$MODEL" \
  --credentials credentials.yml --endpoints "${RASA_ENDPOINTS:-endpoints.yml}" "${auth[@]}" \
  >var/log/rasa.log 2>&1 & pids+=($!)
if [ -f bot/staff/__main__.py ]; then
  $PY -m bot.staff --host "$HOST" --port "$STAFF_PORT" >var/log/staff.log 2>&1 & pids+=($!)
fi

wait_for "http://127.0.0.1:${ACTIONS_PORT}/health" "action server" 60
wait_for "http://127.0.0.1:${RASA_PORT}/" "Rasa" 180
[ -f bot/staff/__main__.py ] && wait_for "http://127.0.0.1:${STAFF_PORT}/login" "staff app" 60

cat <<INFO

madoguchi is running (logs in var/log/):
  Rasa REST      http://${HOST}:${RASA_PORT}/webhooks/rest/webhook   (model $(basename "$MODEL"))
  Actions        http://127.0.0.1:${ACTIONS_PORT}/webhook
  Staff app      http://${HOST}:${STAFF_PORT}/   (create an account: make staff-user)
  Channels       LINE $( [ -n "${LINE_CHANNEL_SECRET:-}" ] && echo on || echo off ), Telegram $( [ -n "${TELEGRAM_BOT_TOKEN:-}" ] && echo on || echo off )
  Storage        ${MADOGUCHI_DB_URL:-sqlite:///var/madoguchi.db} (tickets), var/tracker.db (conversations)

Talk to it:
  curl -s localhost:${RASA_PORT}/webhooks/rest/webhook -H 'Content-Type: application/json' \\
       -d '{"sender":"demo","message":"こんにちは"}'
  or in another terminal: .venv/bin/rasa shell -m ${MODEL}
Stop with Ctrl-C.
INFO
wait -n "${pids[@]}"
echo "a process exited; stopping the stack" >&2
