"""`python -m bot.services.purge [--every SECONDS]` (make purge): enforce retention. Logs counts only.

MADOGUCHI_RETENTION_TICKET_DAYS (default 180: closed tickets, consent records),
MADOGUCHI_RETENTION_EVENT_DAYS (default 30: conversations, the LINE/Telegram id map) and
MADOGUCHI_RETENTION_STATS_LINK_DAYS (default 365: the statistics pseudonyms); bot.services.erasure.purge.
Open tickets past retention are kept and reported (`open_past_retention=`); every run writes a
row to the audit log.
Each run also completes pending erasure requests and re-checks completed ones (bot.services.erasure).
Without --every it runs once (cron, deploy/systemd/madoguchi-purge.timer); with it, it runs at
start and then every SECONDS until stopped (`make run-production`). A failed run is logged and
the loop goes on.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from bot.domain.retention import event_retention, ticket_retention
from bot.services.erasure import purge, result_detail

log = logging.getLogger("bot.services.purge")


def run_once() -> int:
    ticket_days, event_days = ticket_retention().days, event_retention().days
    result = purge(ticket_days=ticket_days, event_days=event_days)
    print(f"purged: {result_detail(result)} (retention: tickets {ticket_days} d, events {event_days} d)", flush=True)
    return 0


def run_every(seconds: float, stop: threading.Event) -> int:
    while not stop.is_set():
        try:
            run_once()
        except Exception as exc:  # the next round tries again; never a silent death
            log.error("purge failed: %s", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200])
        stop.wait(seconds)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.services.purge", description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, metavar="SECONDS", help="run now and then every SECONDS")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.every is None:
        return run_once()
    if args.every <= 0:
        parser.error("--every needs a positive number of seconds")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return run_every(args.every, stop)


if __name__ == "__main__":
    sys.exit(main())
