"""Unit tests of the test harness itself (tests/early.py)."""
