"""Background work over the store: the ticket outbox, staff notifications, retention purges and
erasure. Imported by the adapters (actions, channels, staff, Rasa plugins), never by the store."""
