"""`python -m staff --host 127.0.0.1 --port 8000`: the staff app on werkzeug's threaded
server, plus the notification outbox worker (`make run`). Production runs it under gunicorn
(staff/gunicorn_conf.py, started as deploy/processes.py says)."""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from bot import config
from bot.services.notify import OutboxWorker
from staff import create_app
from staff.web import quiet_loggers


def main(argv: list[str] | None = None) -> int:
    cfg = config.settings()
    parser = argparse.ArgumentParser(prog="python -m staff", description="madoguchi staff app")
    parser.add_argument("--host", default=cfg.text("HOST"))
    parser.add_argument("--port", type=int, default=cfg.integer("STAFF_PORT", fallback=8000))
    parser.add_argument(
        "--notify-interval",
        type=float,
        default=cfg.number("STAFF_NOTIFY_INTERVAL"),
        help="seconds between outbox deliveries (0 turns the worker off)",
    )
    args = parser.parse_args(argv)
    quiet_loggers()
    app = create_app()
    worker = OutboxWorker(args.notify_interval) if args.notify_interval > 0 else None
    if worker:
        worker.start()
    try:
        run_simple(args.host, args.port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        if worker:
            worker.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
