"""Custom actions: thin adapters from Rasa trackers to the domain logic in `bot/`."""
