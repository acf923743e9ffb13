"""Domain rules of the service: the directory of windows, routing, the business calendar,
steering, retention, phone numbers, button keys and staff-facing labels. Plain Python over the
language layer: no SQLAlchemy, no Rasa, no network."""
