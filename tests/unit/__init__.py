"""Unit tests, mirroring the layers of bot/ (and the thin adapters), with no Rasa process."""
