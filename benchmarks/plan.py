"""What each variant (quick, full) measures: benchmarks, modes, repetitions.

The quick variant checks that every section works end to end in a few minutes; its numbers
are too few to meet or miss a target (its targets all say "indicative only"), and it skips
the stored A/A variant (time_to_verdict runs that code path too), the identical head in
time_to_verdict (false_alarms covers it) and the cold builds. The full variant is the
measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_cpybench.options import Budget

BASE_REF = "v3.13.5"
# Branches of the test repository (tests/support/cpython_repo.py) that make every copy.deepcopy
# call do extra work: about 1.10x (twice the threshold) and about 2x on the deepcopy results.
SLOW_SMALL_REF = "slowdown-small"
SLOW_REF = "slowdown"
NEIGHBOUR_REF = "neutral"  # one comment changed on top of BASE_REF
# Benchmarks the slowdown branch cannot affect: they must never fail against BASE_REF.
CONTROL_BENCHMARKS = ("nbody",)
THRESHOLD = 0.05


@dataclass(frozen=True)
class Plan:
    name: str
    # Most interleaved rounds per benchmark; None: the plugin's default (what users get).
    budget: Budget | None
    # overhead: the plugin vs `pyperformance run` on the same interpreter
    overhead_benchmarks: str
    overhead_mode: str
    overhead_pairs: int
    # false alarms: BASE_REF against itself
    aa_benchmarks: str
    aa_mode: str
    aa_reps: int  # interleaved, in-session baseline
    aa_stored_reps: int  # against a stored baseline, confirm=auto
    # sensitivity: slowed heads against BASE_REF
    sens_heads: tuple[str, ...]
    sens_benchmarks: str
    sens_mode: str
    sens_reps: int
    true_mode: str
    true_rounds: int  # interleaved rounds per side for the reference ("true") ratio
    # time to verdict
    ttv_benchmarks: str
    ttv_mode: str
    ttv_reps: int
    ttv_heads: tuple[str, ...]
    # builds
    cold_builds: bool
    # instruction counts (--cpython-metric=instructions): A/A, heads at 1%, cost
    instr_benchmarks: str = "nbody,richards"
    instr_heads: tuple[str, ...] = ()
    # A/A through pytest, one process against -n 2 with pinned workers (issue 14)
    xdist_benchmarks: str = "nbody,richards"
    xdist_mode: str = "fast"
    xdist_reps: int = 1


QUICK = Plan(
    name="quick",
    # Bounds the quick run's duration on a noisy machine; verdicts may be inconclusive more often.
    budget=Budget(processes=6),
    overhead_benchmarks="nbody,richards", overhead_mode="fast", overhead_pairs=2,
    # Single-result benchmarks only: interleaving deepcopy (three results, loops calibrated in every
    # process) costs about 8 s per round in fast mode; sensitivity and time_to_verdict cover it.
    aa_benchmarks="nbody,richards,json_dumps,float", aa_mode="fast", aa_reps=2, aa_stored_reps=0,
    sens_heads=(SLOW_SMALL_REF,), sens_benchmarks="deepcopy,nbody", sens_mode="fast", sens_reps=1,
    true_mode="fast", true_rounds=6,
    ttv_benchmarks="deepcopy", ttv_mode="fast", ttv_reps=1, ttv_heads=(SLOW_SMALL_REF,),
    cold_builds=False,
    instr_benchmarks="nbody,richards,float",
    xdist_benchmarks="nbody,richards", xdist_mode="fast", xdist_reps=1,
)

FULL = Plan(
    name="full",
    budget=None,
    overhead_benchmarks="nbody,richards,json_dumps,deepcopy,float,chaos", overhead_mode="default",
    overhead_pairs=4,
    # 13 results x 8 repetitions = 104 verdicts per variant.
    aa_benchmarks="nbody,richards,json_dumps,deepcopy,float,chaos,go,raytrace,fannkuch,spectral_norm,"
                  "unpack_sequence",
    aa_mode="default", aa_reps=8, aa_stored_reps=8,
    sens_heads=(SLOW_SMALL_REF, SLOW_REF), sens_benchmarks="deepcopy,nbody", sens_mode="default", sens_reps=20,
    true_mode="default", true_rounds=40,
    ttv_benchmarks="nbody,richards,deepcopy", ttv_mode="default", ttv_reps=5,
    ttv_heads=(NEIGHBOUR_REF, SLOW_SMALL_REF),
    cold_builds=True,
    instr_benchmarks="nbody,richards,float,json_dumps,chaos,go,spectral_norm,unpack_sequence,hexiom,nqueens,"
                     "deepcopy,generators,coroutines,async_tree_none",
    instr_heads=(NEIGHBOUR_REF, SLOW_SMALL_REF),
    xdist_benchmarks="nbody,richards,float,json_dumps,chaos,go,spectral_norm,unpack_sequence,hexiom,nqueens",
    xdist_mode="default", xdist_reps=10,
)

# The measurement the closing notes quote: every target gets a verdict in under an hour on
# 2 cores. Single-result benchmarks for A/A (10 x 10 = 100 verdicts at the default mode);
# deepcopy (three results, the ones the slowdown branches change) for sensitivity, in fast
# mode to keep the repetitions affordable.
STANDARD = Plan(
    name="standard",
    budget=None,
    overhead_benchmarks="float,nbody,pidigits", overhead_mode="fast", overhead_pairs=2,
    aa_benchmarks="nbody,richards,float,json_dumps,chaos,go,spectral_norm,unpack_sequence,hexiom,nqueens",
    aa_mode="default", aa_reps=10, aa_stored_reps=1,
    sens_heads=(SLOW_SMALL_REF, SLOW_REF), sens_benchmarks="deepcopy,nbody", sens_mode="fast", sens_reps=4,
    true_mode="fast", true_rounds=12,
    ttv_benchmarks="nbody,json_dumps", ttv_mode="default", ttv_reps=2, ttv_heads=(NEIGHBOUR_REF,),
    cold_builds=True,
    instr_benchmarks="nbody,richards,float,json_dumps,chaos,spectral_norm,unpack_sequence,deepcopy",
    instr_heads=(NEIGHBOUR_REF, SLOW_SMALL_REF),
    # 10 single-result benchmarks x 10 sessions = 100 verdicts per arm (about 25 minutes in all).
    xdist_benchmarks="nbody,richards,float,json_dumps,chaos,go,spectral_norm,unpack_sequence,hexiom,nqueens",
    xdist_mode="fast", xdist_reps=10,
)

PLANS = {plan.name: plan for plan in (QUICK, STANDARD, FULL)}
