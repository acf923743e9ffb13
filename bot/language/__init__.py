"""Language rules: pure functions over Japanese text (no I/O beyond reading resource files,
no Rasa, no database)."""
