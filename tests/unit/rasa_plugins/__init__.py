"""Unit tests of bot/rasa_plugins."""
