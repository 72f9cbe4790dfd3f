"""Join many short strings: exercises str.join and the list iteration behind it."""

import pyperf

WORDS = [f"word{i}" for i in range(1000)]


def join_words(loops):
    words = WORDS
    range_it = range(loops)
    started = pyperf.perf_counter()
    for _ in range_it:
        " ".join(words)
        ",".join(words)
        "".join(words)
    return pyperf.perf_counter() - started


if __name__ == "__main__":
    runner = pyperf.Runner()
    runner.metadata["description"] = "str.join of 1000 short strings"
    runner.bench_time_func("str_join", join_words)
