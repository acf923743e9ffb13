#!/usr/bin/env bash
# Two Rasa replicas + the action server + the staff app (and the privacy notice) behind nginx, on
# one machine (docs/deploy.md). The one production path: `make run-production` calls this script.
#
#   set -a; . deploy/production.env; set +a      # see deploy/production.env.example
#   bash deploy/run_two_instances.sh [MODEL]
#
# Needs PostgreSQL and Redis (scripts/services.sh starts the local ones) and nginx
# (apt-get install -y nginx). Everything binds to 127.0.0.1 (LB_HOST for the balancer).
# The processes, their commands, ports and shared environment come from deploy/processes.py, the
# definition the systemd units in deploy/systemd/ are rendered from (python -m deploy.render_systemd):
# the two cannot drift apart. No secret is on a command line: Rasa reads RASA_API_TOKEN from its
# environment (deploy/rasa_serve.py). Renders deploy/nginx.conf.template into RUN_DIR, brings the
# madoguchi database to the migrations' head and creates Rasa's table (python -m deploy.init_db),
# starts every process under supervisord (scripts/supervise.sh: a process that dies is restarted
# with backoff, logged in RUN_DIR/supervisord.log), writes RUN_DIR/ready when everything answers,
# and stops everything on Ctrl-C / SIGTERM.
set -euo pipefail
umask 077  # UMask=0077 in the units: var/, logs and databases are this user's only
cd "$(dirname "$0")/.."
ROOT=$PWD
MODEL=${1:-${MADOGUCHI_MODEL:-$(ls -t models/*.tar.gz 2>/dev/null | head -1)}}
[ -n "$MODEL" ] && [ -f "$MODEL" ] || { echo "no model (make model, or pass a path)" >&2; exit 2; }
RUN_DIR=${RUN_DIR:-$ROOT/var/two-instances}
LB_HOST=${LB_HOST:-127.0.0.1}
LB_PORT=${LB_PORT:-8080}
LB_INTERNAL_PORT=${LB_INTERNAL_PORT:-8081}
LB_ROUTING=${LB_ROUTING:-sticky}
PY=$ROOT/.venv/bin/python
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

# Ports (RASA1_PORT, RASA2_PORT, ACTIONS_PORT, STAFF_PORT) and the environment every process shares
# (MADOGUCHI_RASA_URL, MADOGUCHI_ACTIONS_URL, SANIC_HOST…), as in the units; a value set wins.
eval "$("$PY" -m deploy.processes env)"
export MADOGUCHI_PG_PASSWORD=${MADOGUCHI_PG_PASSWORD:-}
# Every variable each process needs, RASA_API_TOKEN, a safe MADOGUCHI_RASA_URL (issue 12, 21).
"$PY" -m deploy.preflight production || exit 2
[ -x "$NGINX" ] || { echo "nginx not found (apt-get install -y nginx)" >&2; exit 2; }

. "$ROOT/scripts/serving_env.sh"  # deploy/serving.env
mkdir -p "$RUN_DIR"
rm -f "$RUN_DIR/ready"

# Two listeners (issue 21, H-2): LB_HOST:LB_PORT publishes the webhooks, /privacy and /lb-health;
# 127.0.0.1:LB_INTERNAL_PORT has Rasa's API and every webhook for this machine. X-Forwarded-For is
# believed from MADOGUCHI_TRUSTED_PROXIES only (deploy/nginx.py).
RUN_DIR=$RUN_DIR LB_HOST=$LB_HOST LB_PORT=$LB_PORT LB_INTERNAL_PORT=$LB_INTERNAL_PORT LB_ROUTING=$LB_ROUTING \
  "$PY" -m deploy.nginx "$RUN_DIR/nginx.conf" || exit 2
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

# Each command as deploy/processes.py defines it (NUL-separated: paths may hold spaces).
program() { # name [instance]: supervise one process of the definition
  local cmd=()
  mapfile -d '' cmd < <("$PY" -m deploy.processes argv "$@" "$MODEL")
  [ ${#cmd[@]} -gt 0 ] || { echo "no command for $1 in deploy/processes.py" >&2; exit 1; }
  supervise_program "$1${2:+$(( $2 + 1 ))}" "$RUN_DIR/$1${2:+$(( $2 + 1 ))}.log" "${cmd[@]}"
}
program actions
# Retention and erasure re-checks every hour (issue #12), supervised like the rest.
program purge
program rasa 0
program rasa 1
program staff
supervise_program nginx "$RUN_DIR/nginx.log" "$NGINX" -c "$RUN_DIR/nginx.conf" -p "$RUN_DIR" -g "daemon off;"
supervise_start

wait_for "http://127.0.0.1:${ACTIONS_PORT}/health" "action server" 120 actions
wait_for "http://127.0.0.1:${RASA1_PORT}/" "Rasa 1" "${READY_TIMEOUT:-1200}" rasa1
wait_for "http://127.0.0.1:${RASA2_PORT}/" "Rasa 2" "${READY_TIMEOUT:-1200}" rasa2
wait_for "http://127.0.0.1:${STAFF_PORT}/healthz" "staff app" 120 staff
wait_for "http://${LB_HOST}:${LB_PORT}/lb-health" "nginx" 30 nginx
wait_for "http://127.0.0.1:${LB_INTERNAL_PORT}/lb-health" "nginx (internal listener)" 30 nginx
for n in 1 2; do
  if grep -q "InMemoryTrackerStore\|Could not connect\|Error when trying to connect" "$RUN_DIR/rasa${n}.log"; then
    echo "Rasa $n is not using the production stores; see $RUN_DIR/rasa${n}.log" >&2
    exit 1
  fi
done
touch "$RUN_DIR/ready"
cat <<INFO
madoguchi: 2 Rasa replicas behind nginx ($LB_ROUTING routing), logs in $RUN_DIR/
  public     http://${LB_HOST}:${LB_PORT}/webhooks/line/webhook, /webhooks/telegram/webhook, /privacy (behind your TLS terminator)
  internal   http://127.0.0.1:${LB_INTERNAL_PORT}/ Rasa's API (RASA_API_TOKEN) and every webhook, REST included
  staff app  http://127.0.0.1:${STAFF_PORT}/
  rasa 1/2   http://127.0.0.1:${RASA1_PORT}  http://127.0.0.1:${RASA2_PORT}
  actions    http://127.0.0.1:${ACTIONS_PORT}/webhook
  model      $(basename "$MODEL")
Stop with Ctrl-C.
INFO
supervise_wait
