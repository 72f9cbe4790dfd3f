"""CPython itself: where its sources come from (git), its builds, the venvs that run benchmarks, targets."""
