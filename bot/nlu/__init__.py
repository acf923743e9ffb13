"""Rasa NLU components for Japanese (normaliser, age extractor, crisis detector)."""
from bot.nlu import runtime as _runtime

_runtime.install()
