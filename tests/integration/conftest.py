"""The integration tests use the session-wide `stack` and `fake_api` fixtures of tests/conftest.py."""

from tests.conftest import LINE_SECRET, PINNED_NOW, TELEGRAM_SECRET  # noqa: F401  (re-exported for the tests)
