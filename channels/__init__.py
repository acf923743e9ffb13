"""Messaging connectors for Rasa: LINE (`channels.line.LineInput`) and Telegram
(`channels.telegram.TelegramInput`), plus their admin tools (`channels.richmenu`,
`channels.telegram_admin`). Both are built on `channels.base.WebhookInputChannel` (the webhook,
its checks, the per-person queue, dedup, the Rasa call and the turn that always answers); other
shared pieces live in `channels.common`; the texts the connectors send on their own are in
`channels/texts.yml`.
"""
