"""Telegram admin commands.

    python -m channels.telegram_admin set-webhook https://example.org/webhooks/telegram/webhook
    python -m channels.telegram_admin delete-webhook
    python -m channels.telegram_admin poll [--once]

``set-webhook`` registers the URL with ``secret_token=TELEGRAM_SECRET_TOKEN`` and the update
kinds the connector handles (``channels.telegram.ALLOWED_UPDATES``).

``poll`` is for local use without a public URL: it removes the webhook (getUpdates and a webhook
exclude each other), long-polls getUpdates and forwards each update, unchanged, to the running
Rasa's own webhook (RASA_URL, default http://127.0.0.1:5005, path /webhooks/telegram/webhook)
with the X-Telegram-Bot-Api-Secret-Token header, so the update goes through exactly the same
checks, deduplication and handling as in production. The offset only advances once Rasa has
accepted an update (2xx); while Rasa is down the update is retried with backoff.

Environment: TELEGRAM_BOT_TOKEN, TELEGRAM_SECRET_TOKEN, TELEGRAM_API_BASE_URL, RASA_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
from typing import Awaitable, List, Optional

import aiohttp
from telegram import Update

from bot import config
from channels.telegram import ALLOWED_UPDATES, TelegramApi, TelegramConfig

logger = logging.getLogger(__name__)

DEFAULT_RASA_URL = "http://127.0.0.1:5005"
WEBHOOK_PATH = "/webhooks/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class AdminError(RuntimeError):
    """A setting is missing or Rasa refused an update for good."""


def _config() -> TelegramConfig:
    config = TelegramConfig.from_credentials(None)
    if not config.bot_token:
        raise AdminError("TELEGRAM_BOT_TOKEN is not set")
    if not config.enabled:
        raise AdminError("TELEGRAM_SECRET_TOKEN must be set (1-256 characters of A-Za-z0-9_-)")
    return config


async def set_webhook(url: str, config: Optional[TelegramConfig] = None) -> bool:
    """Register ``url`` as the webhook, with the secret token and allowed updates."""
    config = config or _config()
    if not url.startswith("https://"):
        raise AdminError("Telegram only delivers webhooks to https:// URLs")
    api = TelegramApi(config)
    try:
        return await api.call(
            "setWebhook",
            lambda: api.bot.set_webhook(url=url, secret_token=config.secret_token, allowed_updates=ALLOWED_UPDATES),
        )
    finally:
        await api.close()


async def delete_webhook(config: Optional[TelegramConfig] = None) -> bool:
    config = config or _config()
    api = TelegramApi(config)
    try:
        return await api.call("deleteWebhook", lambda: api.bot.delete_webhook())
    finally:
        await api.close()


async def _forward(http: aiohttp.ClientSession, url: str, secret: str, body: str, *, attempts: int = 8) -> None:
    """POST one update to Rasa's webhook; retry while Rasa is unreachable or 5xx."""
    delay = 0.5
    for attempt in range(attempts):
        try:
            async with http.post(
                url, data=body.encode("utf-8"), headers={"Content-Type": "application/json", SECRET_HEADER: secret}
            ) as resp:
                if resp.status < 300:
                    return
                if resp.status < 500:
                    raise AdminError(
                        f"Rasa answered HTTP {resp.status}: is the telegram channel configured "
                        "with the same TELEGRAM_SECRET_TOKEN?"
                    )
                logger.warning("Rasa answered HTTP %s; retrying", resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.warning("Rasa not reachable (%s); retrying", type(exc).__name__)
        if attempt + 1 < attempts:
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 10.0)
    raise AdminError("Rasa did not accept the update; is it running at RASA_URL?")


async def poll(
    rasa_url: str = DEFAULT_RASA_URL,
    *,
    config: Optional[TelegramConfig] = None,
    once: bool = False,
    poll_timeout: int = 30,
) -> int:
    """Long-poll getUpdates and forward each update to Rasa's webhook.

    Args:
        rasa_url (:obj:`str`): base URL of the running Rasa server.
        once (:obj:`bool`): stop after the first getUpdates call (tests, scripts).
        poll_timeout (:obj:`int`): getUpdates long-poll seconds.

    Returns:
        :obj:`int`: how many updates were forwarded.
    """
    config = config or _config()
    api = TelegramApi(config, poll_timeout=poll_timeout)
    target = rasa_url.rstrip("/") + WEBHOOK_PATH
    forwarded = 0
    offset: Optional[int] = None
    try:
        await api.call("deleteWebhook", lambda: api.bot.delete_webhook())
        logger.info("polling Telegram; forwarding to %s", target)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=config.timeout)) as http:
            while True:

                def get_updates(offset: Optional[int] = offset) -> Awaitable[tuple[Update, ...]]:
                    return api.bot.get_updates(
                        offset=offset, timeout=0 if once else poll_timeout, allowed_updates=ALLOWED_UPDATES
                    )

                updates = await api.call("getUpdates", get_updates)
                for update in updates:
                    await _forward(http, target, config.secret_token, update.to_json())
                    offset = update.update_id + 1
                    forwarded += 1
                if once:
                    return forwarded
    finally:
        await api.close()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.telegram_admin", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_set = sub.add_parser("set-webhook", help="register the webhook URL with the secret token")
    p_set.add_argument("url")
    sub.add_parser("delete-webhook", help="remove the webhook")
    p_poll = sub.add_parser("poll", help="long-poll and forward updates to the local Rasa")
    p_poll.add_argument("--rasa-url", default=config.settings().raw("MADOGUCHI_RASA_URL") or DEFAULT_RASA_URL)
    p_poll.add_argument("--once", action="store_true", help="one getUpdates call, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "set-webhook":
            ok = asyncio.run(set_webhook(args.url))
            print("webhook set" if ok else "Telegram refused the webhook")
            return 0 if ok else 1
        if args.command == "delete-webhook":
            asyncio.run(delete_webhook())
            print("webhook deleted")
            return 0
        count = asyncio.run(poll(args.rasa_url, once=args.once))
        print(f"forwarded {count} update(s)")
        return 0
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
