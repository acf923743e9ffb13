"""Property tests (Hypothesis) over the parsers and validators; `python -m tests.fuzz` runs them deep."""
