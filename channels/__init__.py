"""Messaging connectors for Rasa: LINE (`channels.line.LineInput`) and Telegram
(`channels.telegram.TelegramInput`), plus their admin tools (`channels.richmenu`,
`channels.telegram_admin`). Shared pieces live in `channels.common`; the texts the connectors
send on their own are in `channels/texts.yml`.
"""
