"""Unit tests of bot/domain."""
