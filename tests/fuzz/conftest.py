"""Hypothesis profiles for the property tests.

`make test` uses the suite's "dev" profile (tests/conftest.py: 200 examples per property).
`make fuzz` (``python -m tests.fuzz``) loads "fuzz": at least 10,000 examples in all, deadline off.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.fuzz.counting import COUNTS

FUZZ_EXAMPLES = int(os.environ.get("MADOGUCHI_FUZZ_EXAMPLES", "800"))

settings.register_profile(
    "fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz":
    settings.load_profile("fuzz")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not COUNTS:
        return
    total = sum(COUNTS.values())
    if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz":
        terminalreporter.section("fuzz: examples per property")
        for name, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{n:8d}  {name}")
    terminalreporter.write_line(f"fuzz: {total} examples over {len(COUNTS)} properties")
