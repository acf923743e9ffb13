"""`python -m tests.fuzz [--examples N] [pytest args…]`: every property, deep (make fuzz).

Registers and loads the "fuzz" Hypothesis profile (N examples per property, default 800, so the
27 properties see well over 10,000 examples in all), runs tests/fuzz, prints the counts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    parser.add_argument(
        "--examples",
        type=int,
        default=int(os.environ.get("MADOGUCHI_FUZZ_EXAMPLES", "800")),
        help="examples per property (default 800)",
    )
    args, rest = parser.parse_known_args(argv)
    os.environ["HYPOTHESIS_PROFILE"] = "fuzz"
    os.environ["MADOGUCHI_FUZZ_EXAMPLES"] = str(args.examples)
    from hypothesis import HealthCheck, settings

    # tests/conftest.py loads $HYPOTHESIS_PROFILE at import: the profile must exist before that.
    settings.register_profile(
        "fuzz",
        max_examples=args.examples,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    import pytest

    from tests.fuzz.counting import COUNTS

    started = time.monotonic()
    # Hypothesis is imported above (the profile must exist first), hence no assertion rewriting for it.
    code = pytest.main(
        ["-q", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning", "tests/fuzz", *rest]
    )
    total = sum(COUNTS.values())
    print(
        f"\nfuzz: {total} examples over {len(COUNTS)} properties in {time.monotonic() - started:.0f} s "
        f"({args.examples} per property requested)"
    )
    if code == 0 and total < 10_000 and not rest:
        print("fuzz: fewer than 10,000 examples in all: raise --examples", file=sys.stderr)
        return 1
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
