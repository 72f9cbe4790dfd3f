"""Merge dicts with |, |= and {**a, **b}: exercises dict copying and insertion."""

import pyperf

LEFT = {f"key{i}": i for i in range(500)}
RIGHT = {f"key{i}": -i for i in range(250, 750)}


def merge_dicts(loops):
    left, right = LEFT, RIGHT
    range_it = range(loops)
    started = pyperf.perf_counter()
    for _ in range_it:
        merged = left | right
        merged = dict(left)
        merged |= right
        merged = {**left, **right}
    return pyperf.perf_counter() - started


if __name__ == "__main__":
    runner = pyperf.Runner()
    runner.metadata["description"] = "merging two 500-key dicts three ways"
    runner.bench_time_func("dict_merge", merge_dicts)
