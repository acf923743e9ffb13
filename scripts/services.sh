#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis used by the production-configuration tests are up.
# On these machines they are started before the session; after a reboot this restarts them.
set -uo pipefail
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start 2>/dev/null || true
  fi
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
  fi
fi
pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && echo "postgresql: up" || echo "postgresql: not available"
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && echo "redis: up" || echo "redis: not available"
