"""Tests of the benchmarks' own code (their pure parts, on committed results): the same tiers as
tests/ (tests/support/tiers.py)."""

pytest_plugins = ["tiers"]
