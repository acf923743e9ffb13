"""gunicorn settings for the staff app in production (issue 21, M-4), named by the definition in
deploy/processes.py (`--config python:staff.gunicorn_conf`); the bind address (127.0.0.1)
and the number of workers are on that command line, where the systemd unit shows them.

The worker runs the notification outbox worker beside the app, as `python -m staff` does
(should there ever be more workers: bot.services.notify leases every row it sends with a conditional
UPDATE, so two never send the same notification). `make run` keeps Werkzeug's server.
"""

from __future__ import annotations

from typing import Any

from staff.web import quiet_loggers

quiet_loggers()

worker_class = "gthread"
# A request that takes longer than this is a hung worker: it is restarted.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Only the balancer and the TLS terminator on this machine may say the scheme was https;
# X-Forwarded-For is read by ProxyFix in the app (MADOGUCHI_STAFF_PROXIES hops).
forwarded_allow_ips = "127.0.0.1,::1"
# No access log: the paths name tickets (the app's own audit log records who read what).
accesslog = None
errorlog = "-"
# No control socket (gunicorn >= 25 opens one in $XDG_RUNTIME_DIR or ~/.gunicorn by default):
# nothing may resize or reload the app from outside systemd, and the unit's home is read-only.
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    # Imported here: gunicorn takes every module-level name of this file for a setting of its own
    # (and `config` is one).
    from bot.config import settings
    from bot.services.notify import OutboxWorker

    interval = settings().number("STAFF_NOTIFY_INTERVAL")
    if interval > 0:
        worker.outbox = OutboxWorker(interval)
        worker.outbox.start()


def worker_exit(_server: Any, worker: Any) -> None:
    outbox = getattr(worker, "outbox", None)
    if outbox is not None:
        outbox.stop()
