"""`python -m bot.purge` (make purge): enforce retention. Logs counts only.

MADOGUCHI_RETENTION_TICKET_DAYS (default 180) and MADOGUCHI_RETENTION_EVENT_DAYS (default 30).
Schedule it daily (cron or a systemd timer; see docs/privacy.md).
"""
from __future__ import annotations

import logging
import os
import sys

from bot.erasure import purge


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    ticket_days = int(os.environ.get("MADOGUCHI_RETENTION_TICKET_DAYS", "180"))
    event_days = int(os.environ.get("MADOGUCHI_RETENTION_EVENT_DAYS", "30"))
    result = purge(ticket_days=ticket_days, event_days=event_days)
    print(f"purged: tickets={result.tickets} conversation_events={result.tracker_events} "
          f"webhook_keys={result.processed_events} (retention: tickets {ticket_days} d, events {event_days} d)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
