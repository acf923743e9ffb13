"""Unit tests of bot/language."""
