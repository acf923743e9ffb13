"""Rasa NLU components for Japanese (normaliser, age extractor, crisis detector)."""
