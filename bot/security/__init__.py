"""Secrets and the primitives built on them: keys, field encryption, pseudonyms, rate limits,
address checks. No tables: the store seals columns with these."""
