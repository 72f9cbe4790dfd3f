"""Verdicts: statistics and comparisons of two results suites. Pure: no I/O, no pytest."""
