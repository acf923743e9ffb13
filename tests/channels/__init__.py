"""Tests of the LINE and Telegram connectors (channels/)."""
