"""Shared pytest configuration."""
import os

from hypothesis import HealthCheck, settings

# "dev" keeps the suite fast; CI can set HYPOTHESIS_PROFILE=ci for a deeper search.
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "ci", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
