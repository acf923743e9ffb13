# Sourced by the launchers (scripts/run_stack.sh, deploy/run_two_instances.sh): run the stack's
# processes under supervisord (PyPI "supervisor", installed in .venv), which restarts a process
# that dies and logs it, instead of stopping the stack at the first exit.
#
#   supervise_init DIR LOGFILE        config, socket and pid file in DIR
#   supervise_program NAME LOG CMD…   one process (the environment is inherited)
#   supervise_start                   starts supervisord in the background; Ctrl-C / SIGTERM /
#                                     exit stop every process (their groups too), then return
#   supervise_alive                   is supervisord still running?
#   supervise_exited NAME             has NAME exited since the start (a start-up failure)?
#   supervise_wait                    waits until supervisord ends
#   supervise_ctl ARGS…               supervisorctl against this stack (status, pid NAME…)
#
# Restart policy: a process that exits is started again at once; one that dies again within
# SUPERVISE_STARTSECS (default 10 s) of its start waits 1 s, 2 s, 3 s … longer each time and is
# given up on (FATAL, logged) after SUPERVISE_RETRIES (default 10) such failures in a row.
_SUP_BIN=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin

supervise_init() { # dir logfile
  _SUP_DIR=$1 _SUP_LOG=$2
  mkdir -p "$_SUP_DIR"
  _SUP_CONF=$_SUP_DIR/supervisord.conf
  # A password on the control socket (0700 as well), readable by this user only.
  local pass
  pass=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  ( umask 077; : >"$_SUP_CONF" )
  cat >"$_SUP_CONF" <<CONF
[supervisord]
nodaemon=true
user=$(id -un)
logfile=$(_sup_escape "$2")
logfile_maxbytes=10MB
pidfile=$(_sup_escape "$_SUP_DIR/supervisord.pid")
childlogdir=$(_sup_escape "$_SUP_DIR")

[unix_http_server]
file=$(_sup_escape "$_SUP_DIR/supervisor.sock")
chmod=0700
username=madoguchi
password=$pass

[supervisorctl]
serverurl=unix://$(_sup_escape "$_SUP_DIR/supervisor.sock")
username=madoguchi
password=$pass

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
CONF
}

_sup_escape() { printf '%s' "${1//%/%%}"; }

supervise_program() { # name logfile command…
  local name=$1 log=$2 arg cmd=""
  shift 2
  for arg in "$@"; do cmd+=" $(printf '%q' "$arg")"; done
  cat >>"$_SUP_CONF" <<CONF

[program:$name]
command=$(_sup_escape "${cmd# }")
directory=$(_sup_escape "$PWD")
autorestart=true
startsecs=${SUPERVISE_STARTSECS:-10}
startretries=${SUPERVISE_RETRIES:-10}
stopasgroup=true
killasgroup=true
stopwaitsecs=20
redirect_stderr=true
stdout_logfile=$(_sup_escape "$log")
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=3
CONF
}

supervise_start() {
  local lines=0
  [ -f "$_SUP_LOG" ] && lines=$(wc -l <"$_SUP_LOG")
  _SUP_LOG_START=$((lines + 1))  # the log is appended to: only this run's lines count
  "$_SUP_BIN/supervisord" -c "$_SUP_CONF" &
  _SUP_PID=$!
  trap _supervise_stop EXIT
  trap '_supervise_stop; exit 130' INT
  trap '_supervise_stop; exit 143' TERM
}

_supervise_stop() {
  trap - EXIT INT TERM
  # supervisord stops every program (SIGTERM to its group, SIGKILL after stopwaitsecs).
  kill -TERM "$_SUP_PID" 2>/dev/null || true
  wait "$_SUP_PID" 2>/dev/null || true
}

supervise_alive() { kill -0 "$_SUP_PID" 2>/dev/null; }

supervise_exited() { tail -n "+$_SUP_LOG_START" "$_SUP_LOG" 2>/dev/null | grep -q "exited: $1 ("; }

supervise_wait() { wait "$_SUP_PID" 2>/dev/null || true; }

supervise_ctl() { "$_SUP_BIN/supervisorctl" -c "$_SUP_CONF" "$@"; }
