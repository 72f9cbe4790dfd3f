"""One benchmarking session without pytest: prepare the interpreters, measure each benchmark, finish."""
