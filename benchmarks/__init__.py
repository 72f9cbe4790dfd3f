"""Benchmarks of pytest-cpybench itself: overhead, false alarms, sensitivity, time to verdict, builds.

Run them with ``python benchmarks/run.py`` (see benchmarks/README.md).
"""
