"""The results store, on real pyperf results (faster-cpython's published seed files)."""

from __future__ import annotations

import copy
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pyperf
import pytest
from seed import HEAD_FILE, SEED

from pytest_cpybench.cpython import builds
from pytest_cpybench.errors import StoreError
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results.identity import RunIdentity, RunKey, identity_from_suite, stamp
from pytest_cpybench.results.naming import DEFAULT_PRESET, build_config_tag
from pytest_cpybench.results.store import STALE_TMP_SECONDS, ResultsStore, StoredBaseline

SEED_DIR = SEED
SEED_FILES = sorted(SEED_DIR.glob("bm-*.json"))
SEED_3_11 = SEED_DIR / "bm-20221024-linux-x86_64-python-deaf509e8fc6e0363bd6-3.11.0-deaf509.json"
# Folder names as bench_runner writes them (its own test data has bm-20220323-3.10.4-9d38120).
SEED_FOLDERS = {
    "9d38120": "bm-20220323-3.10.4-9d38120",
    "deaf509": "bm-20221024-3.11.0-deaf509",
    "4ae1a0e": "bm-20221025-3.12.0a1-4ae1a0e",
}
SAFE_NAME = re.compile(r"[A-Za-z0-9._+,-]+")


def seed_identity(seed: Path) -> RunIdentity:
    """The identity of a seed file: commit from its metadata, machine and version from its name."""
    metadata = pyperf.BenchmarkSuite.load(str(seed)).get_metadata()
    name_fields = seed.stem.split("-")
    values = {
        "commit_sha": metadata[md.COMMIT_BRANCH],  # bench_runner stores the full sha here
        "commit_date": metadata[md.COMMIT_DATE],
        "version": name_fields[6],
        "ref": metadata[md.COMMIT_BRANCH],
        "fork": metadata[md.COMMIT_FORK],
        "machine": name_fields[2],
        "arch": name_fields[3],
    }
    return RunIdentity(**values)


def subset(suite: pyperf.BenchmarkSuite, names: list[str]) -> pyperf.BenchmarkSuite:
    return pyperf.BenchmarkSuite([suite.get_benchmark(name) for name in names])


@pytest.fixture(scope="module")
def seed_suite() -> pyperf.BenchmarkSuite:
    return pyperf.BenchmarkSuite.load(str(SEED_3_11))


@pytest.fixture(scope="module")
def small_suite(seed_suite: pyperf.BenchmarkSuite) -> pyperf.BenchmarkSuite:
    return subset(seed_suite, ["2to3", "chaos", "deepcopy", "nbody", "richards"])


@pytest.fixture(scope="module")
def identity() -> RunIdentity:
    return seed_identity(SEED_3_11)


def json_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


# -- naming ------------------------------------------------------------------------------


def test_the_seed_files_are_there() -> None:
    assert [path.stem.split("-")[7] for path in SEED_FILES] == sorted(SEED_FOLDERS, key=lambda sha: SEED_FOLDERS[sha])


@pytest.mark.parametrize("seed", SEED_FILES, ids=lambda path: path.stem.split("-")[6])
def test_names_match_bench_runner_for_the_seed_files(seed: Path) -> None:
    identity = seed_identity(seed)

    assert f"{identity.file_stem()}.json" == seed.name
    assert identity.folder_name() == SEED_FOLDERS[identity.sha7]


def test_commit_date_in_names_is_the_committers_local_date() -> None:
    # 2022-10-25T00:08:22+02:00 is still the 24th in UTC; bench_runner names it the 25th.
    seed = SEED_DIR / "bm-20221025-linux-x86_64-python-4ae1a0ecaffe4320fe97-3.12.0a1-4ae1a0e.json"
    assert seed_identity(seed).date_stamp == "20221025"


def test_ref_is_truncated_to_20_characters_and_kept_whole_in_metadata(
    identity: RunIdentity, small_suite: pyperf.BenchmarkSuite
) -> None:
    long_ref = replace(identity, ref="a-rather-long-branch-name-for-testing")

    ref_field = long_ref.file_stem().split("-")[5]

    assert ref_field == "a_rather_long_branch"
    stamped = stamp(small_suite, long_ref)
    assert stamped.get_metadata()[md.COMMIT_BRANCH] == "a-rather-long-branch-name-for-testing"


def test_build_config_tag() -> None:
    assert build_config_tag("release", "") == ""
    assert build_config_tag(" RELEASE ", "  ") == ""
    assert build_config_tag("jit", "") == "JIT"
    assert build_config_tag("pgo-lto", "") == "PGO_LTO"
    flags_tag = build_config_tag("release", "--with-assertions  --without-doc-strings")
    assert re.fullmatch(r"CFG[0-9a-f]{8}", flags_tag)
    # Same flags with other spacing: same build.
    assert build_config_tag("release", " --with-assertions --without-doc-strings") == flags_tag
    assert build_config_tag("release", "--without-doc-strings --with-assertions") != flags_tag
    assert build_config_tag("nogil", "--with-assertions --without-doc-strings") == f"NOGIL,{flags_tag}"


def test_default_preset_is_the_builders() -> None:
    assert DEFAULT_PRESET == builds.DEFAULT_PRESET
    assert build_config_tag(builds.DEFAULT_PRESET, "") == ""
    assert all(build_config_tag(preset, "") for preset in builds.PRESETS if preset != DEFAULT_PRESET)


def test_build_config_tag_ends_folder_and_file_names(identity: RunIdentity) -> None:
    jit = replace(identity, preset="jit")

    assert jit.folder_name() == "bm-20221024-3.11.0-deaf509-JIT"
    assert jit.file_stem() == identity.file_stem() + "-JIT"


def test_unusable_identities_are_refused(identity: RunIdentity) -> None:
    with pytest.raises(StoreError, match="full hexadecimal sha"):
        replace(identity, commit_sha="deaf509")
    with pytest.raises(StoreError, match="ISO 8601"):
        replace(identity, commit_date="24 Oct 2022")
    with pytest.raises(StoreError, match="newline"):
        replace(identity, ref="main\nx")
    with pytest.raises(StoreError, match="ref is empty"):
        replace(identity, ref="  ")


# -- metadata ----------------------------------------------------------------------------


def test_stamp_puts_the_identity_on_every_benchmark_of_a_copy(
    identity: RunIdentity, small_suite: pyperf.BenchmarkSuite
) -> None:
    flagged = replace(identity, configure_flags="--with-assertions")

    stamped = stamp(small_suite, flagged, {md.BENCHMARK_HASH: "3b20e5", "cpybench_runs": 3})

    for benchmark in stamped.get_benchmarks():
        benchmark_metadata = benchmark.get_metadata()
        assert benchmark_metadata[md.FULL_SHA] == identity.commit_sha
        assert benchmark_metadata[md.CONFIGURE_FLAGS] == "--with-assertions"
        assert benchmark_metadata["cpybench_runs"] == 3
    assert identity_from_suite(stamped) == flagged
    assert identity_from_suite(small_suite) is None  # the original is untouched
    assert stamped.get_benchmark("nbody").get_values() == small_suite.get_benchmark("nbody").get_values()


def test_empty_configure_flags_are_stored_as_none(
    identity: RunIdentity, small_suite: pyperf.BenchmarkSuite
) -> None:
    stamped = stamp(small_suite, identity)

    assert stamped.get_metadata()[md.CONFIGURE_FLAGS] == "none"
    assert identity_from_suite(stamped).configure_flags == ""


def test_stamp_refuses_bad_extra_metadata(identity: RunIdentity, small_suite: pyperf.BenchmarkSuite) -> None:
    with pytest.raises(StoreError, match="newline"):
        stamp(small_suite, identity, {"note": "two\nlines"})
    with pytest.raises(StoreError, match="contradicts the run identity"):
        stamp(small_suite, identity, {md.MACHINE: "elsewhere"})


def test_files_from_other_tools_have_no_identity(seed_suite: pyperf.BenchmarkSuite) -> None:
    assert identity_from_suite(seed_suite) is None


# -- saving ------------------------------------------------------------------------------


def test_save_new_twice_keeps_both(tmp_path: Path, identity: RunIdentity, small_suite) -> None:
    store = ResultsStore(tmp_path)

    first = store.save(identity, small_suite, "new")
    second = store.save(identity, small_suite, "new")

    assert first == tmp_path / "bm-20221024-3.11.0-deaf509" / SEED_3_11.name
    assert second == first.with_name(f"{identity.file_stem()}-2.json")
    assert json_files(tmp_path) == sorted([first, second])
    assert store.find(RunKey(identity.commit_sha, identity.machine)) == [second, first]


def test_save_replace_replaces_only_the_newest(tmp_path: Path, identity: RunIdentity, small_suite) -> None:
    store = ResultsStore(tmp_path)
    first = store.save(identity, small_suite, "new")
    second = store.save(identity, small_suite, "new")
    first_bytes = first.read_bytes()

    replaced = store.save(identity, subset(small_suite, ["chaos"]), "replace")

    assert replaced == second
    assert json_files(tmp_path) == sorted([first, second])
    assert store.load(second).get_benchmark_names() == ["chaos"]
    assert first.read_bytes() == first_bytes


def test_save_replace_without_a_previous_result_adds_one(tmp_path: Path, identity, small_suite) -> None:
    path = ResultsStore(tmp_path).save(identity, small_suite, "replace")

    assert json_files(tmp_path) == [path]


def test_save_no_writes_nothing(tmp_path: Path, identity: RunIdentity, small_suite) -> None:
    store = ResultsStore(tmp_path / "store")

    assert store.save(identity, small_suite, "no") is None
    assert not (tmp_path / "store").exists()


def test_unknown_save_mode_is_refused(tmp_path: Path, identity: RunIdentity, small_suite) -> None:
    with pytest.raises(StoreError, match="unknown save mode 'overwrite'"):
        ResultsStore(tmp_path).save(identity, small_suite, "overwrite")  # type: ignore[arg-type]


@pytest.mark.usefixtures("subprocesses")
def test_saved_file_is_plain_pyperf_json(tmp_path: Path, identity: RunIdentity, small_suite) -> None:
    path = ResultsStore(tmp_path).save(identity, small_suite, "new")

    loaded = pyperf.BenchmarkSuite.load(str(path))
    shown = subprocess.run(
        [sys.executable, "-m", "pyperf", "show", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert sorted(loaded.get_benchmark_names()) == sorted(small_suite.get_benchmark_names())
    assert identity_from_suite(loaded) == identity
    assert shown.returncode == 0, shown.stderr
    assert "richards" in shown.stdout


def test_unsafe_ref_and_machine_give_a_safe_name_inside_the_store(
    tmp_path: Path, identity: RunIdentity, small_suite
) -> None:
    root = tmp_path / "store"
    nasty_ref = "../../x;$(rm -rf ~)`id`|&>"
    unsafe = replace(identity, ref=nasty_ref, machine="../../etc", fork="a/b")
    store = ResultsStore(root)

    path = store.save(unsafe, small_suite, "new")

    assert path.resolve().parent.parent == root.resolve()
    assert SAFE_NAME.fullmatch(path.name) and SAFE_NAME.fullmatch(path.parent.name)
    assert len(path.stem.split("-")) == 8  # no field leaked a separator
    assert identity_from_suite(store.load(path)).ref == nasty_ref
    assert store.find(RunKey(identity.commit_sha, "../../etc")) == [path]


# -- finding and loading -----------------------------------------------------------------


def test_find_decides_on_metadata_when_names_collide(tmp_path: Path, identity, small_suite) -> None:
    store = ResultsStore(tmp_path)
    dashed = replace(identity, machine="build-box")
    underscored = replace(identity, machine="build_box")
    dashed_path = store.save(dashed, small_suite, "new")

    # Same file name family, another machine: replace must not touch the other machine's file.
    underscored_path = store.save(underscored, small_suite, "replace")

    assert underscored_path != dashed_path
    assert store.find(RunKey(identity.commit_sha, "build-box")) == [dashed_path]
    assert store.find(RunKey(identity.commit_sha, "build_box")) == [underscored_path]


def test_find_separates_build_configurations(tmp_path: Path, identity: RunIdentity, small_suite) -> None:
    store = ResultsStore(tmp_path)
    default = store.save(identity, small_suite, "new")
    flagged = replace(identity, configure_flags="--with-assertions")
    flagged_path = store.save(flagged, small_suite, "new")

    assert store.find(RunKey(identity.commit_sha, identity.machine)) == [default]
    assert store.find(RunKey(identity.commit_sha, identity.machine, "release", " --with-assertions ")) == [flagged_path]
    assert store.find(RunKey(identity.commit_sha, identity.machine, "jit", "")) == []
    assert store.find(RunKey("4ae1a0ecaffe4320fe9774fad1f395f732c17959", identity.machine)) == []


def test_empty_store(tmp_path: Path, identity: RunIdentity) -> None:
    store = ResultsStore(tmp_path / "missing")

    assert store.find(RunKey(identity.commit_sha, identity.machine)) == []
    assert store.baseline(RunKey(identity.commit_sha, identity.machine)) == StoredBaseline(None, (), ())


def test_load_error_of_a_corrupt_file_is_one_line_and_says_what_to_do(
    tmp_path: Path, identity: RunIdentity, small_suite
) -> None:
    store = ResultsStore(tmp_path)
    corrupt = store.save(identity, small_suite, "new")
    corrupt.write_bytes(corrupt.read_bytes()[: corrupt.stat().st_size // 2])

    with pytest.raises(StoreError) as raised:
        store.load(corrupt)

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"results file {corrupt} is corrupt (invalid JSON")
    assert message.endswith("restore it, move it away, or measure that interpreter again")


def test_json_that_is_not_pyperf_is_corrupt(tmp_path: Path, identity: RunIdentity) -> None:
    path = tmp_path / identity.folder_name() / f"{identity.file_stem()}.json"
    path.parent.mkdir()
    path.write_text('{"benchmarks": "yes"}\n')
    store = ResultsStore(tmp_path)

    with pytest.raises(StoreError, match=r"is corrupt \(not a pyperf results file"):
        store.load(path)
    found = store.baseline(RunKey(identity.commit_sha, identity.machine))
    assert found.suite is None and found.paths == ()
    assert len(found.skipped) == 1 and str(path) in found.skipped[0]


def test_missing_file_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist: check the path"):
        ResultsStore(tmp_path).load(tmp_path / "bm-nothing.json")


def test_find_lists_unreadable_files_but_not_other_tools_files(
    tmp_path: Path, identity: RunIdentity, small_suite
) -> None:
    store = ResultsStore(tmp_path)
    ours = save_aged(store, identity, small_suite, minutes_ago=30)
    foreign = ours.with_name(f"{identity.file_stem()}-7.json")
    foreign.write_bytes(SEED_3_11.read_bytes())  # bench_runner's file: no cpybench metadata
    broken = ours.with_name(f"{identity.file_stem()}-8.json")
    broken.write_text("{")

    assert store.find(RunKey(identity.commit_sha, identity.machine)) == [broken, ours]
    found = store.baseline(RunKey(identity.commit_sha, identity.machine))
    assert found.paths == (ours,)
    assert len(found.skipped) == 1 and f"results file {broken} is corrupt" in found.skipped[0]
    assert foreign.read_bytes() == SEED_3_11.read_bytes()


# -- baselines: per benchmark over every stored run of one build --------------------------


def as_measured(suite: pyperf.BenchmarkSuite, mode: str = "default") -> pyperf.BenchmarkSuite:
    """``suite`` with the per-result metadata the plugin stamps: pyperf mode and benchmark."""
    measured = copy.deepcopy(suite)
    for result in measured.get_benchmarks():
        owner = "deepcopy" if result.get_name().startswith("deepcopy") else result.get_name()
        result.update_metadata({md.MODE: mode, md.BENCHMARK_NAME: owner})
    return measured


def few_values(source: pyperf.Benchmark, runs: int, values_per_run: int) -> pyperf.Benchmark:
    """A result of ``source``'s benchmark with that few values (pyperf --debug-single-value: 1, 1)."""
    metadata = {"name": source.get_name(), "unit": source.get_unit(), "loops": 1}
    metadata.update(
        {key: value for key, value in source.get_metadata().items() if key in (md.MODE, md.BENCHMARK_NAME)}
    )
    value = source.get_values()[0] * 1.5
    return pyperf.Benchmark(
        [pyperf.Run([value] * values_per_run, metadata=metadata, collect_metadata=False) for _ in range(runs)]
    )


def save_aged(store: ResultsStore, identity: RunIdentity, suite, minutes_ago: float) -> Path:
    """Save ``suite`` and date its file ``minutes_ago`` (the store orders runs by file time)."""
    path = store.save(identity, suite, "new")
    when = time.time() - 60 * minutes_ago
    os.utime(path, (when, when))
    return path


def values_of(suite: pyperf.BenchmarkSuite) -> dict[str, list[float]]:
    return {result.get_name(): list(result.get_values()) for result in suite.get_benchmarks()}


@pytest.fixture(scope="module")
def full_run(small_suite: pyperf.BenchmarkSuite, seed_suite: pyperf.BenchmarkSuite) -> pyperf.BenchmarkSuite:
    """A full default-mode run: five benchmarks, deepcopy with its three results."""
    names = [*small_suite.get_benchmark_names(), "deepcopy_reduce", "deepcopy_memo"]
    return as_measured(subset(seed_suite, names))


@pytest.fixture(scope="module")
def later_values() -> pyperf.BenchmarkSuite:
    """Other real values of the same benchmarks (3.12.0a1's), for a later run."""
    return pyperf.BenchmarkSuite.load(str(HEAD_FILE))


def test_a_later_debug_run_of_one_benchmark_does_not_hide_the_full_run(
    tmp_path: Path, identity: RunIdentity, full_run: pyperf.BenchmarkSuite
) -> None:
    store = ResultsStore(tmp_path)
    full = save_aged(store, identity, full_run, minutes_ago=60)
    nbody = as_measured(pyperf.BenchmarkSuite([few_values(full_run.get_benchmark("nbody"), 1, 1)]), "debug")
    debug = save_aged(store, identity, nbody, minutes_ago=1)

    found = store.baseline(RunKey(identity.commit_sha, identity.machine))

    assert store.find(RunKey(identity.commit_sha, identity.machine)) == [debug, full]
    assert found.paths == (full,)
    assert values_of(found.suite) == values_of(full_run)
    assert found.skipped == ()  # nbody has a usable result: nothing to warn about
    assert identity_from_suite(found.suite) == identity
    assert found.suite.get_benchmark("nbody").get_metadata()[md.MODE] == "default"


@pytest.mark.parametrize(
    ("mode", "runs", "values_per_run", "reason"),
    [
        ("debug", 3, 3, "a debug-mode run is never a baseline"),
        ("default", 1, 1, "a baseline needs 2 values from 2 runs at least"),  # --debug-single-value
        ("fast", 1, 5, "a baseline needs 2 values from 2 runs at least"),
    ],
    ids=["debug-mode", "one-value", "one-run"],
)
def test_results_that_cannot_be_a_baseline_are_ignored_with_a_warning(
    tmp_path: Path, identity: RunIdentity, full_run, mode: str, runs: int, values_per_run: int, reason: str
) -> None:
    store = ResultsStore(tmp_path)
    results = [few_values(full_run.get_benchmark(name), runs, values_per_run) for name in ("chaos", "nbody")]
    path = save_aged(store, identity, as_measured(pyperf.BenchmarkSuite(results), mode), minutes_ago=1)

    alone = store.baseline(RunKey(identity.commit_sha, identity.machine))
    full = save_aged(store, identity, subset(full_run, ["nbody", "richards"]), minutes_ago=60)
    with_full_run = store.baseline(RunKey(identity.commit_sha, identity.machine))

    assert alone.suite is None and alone.paths == ()
    assert alone.skipped == (f"ignored the stored results of chaos, nbody in {path}: {reason}",)
    assert with_full_run.paths == (full,)
    assert values_of(with_full_run.suite) == values_of(subset(full_run, ["nbody", "richards"]))
    # Only the benchmark no stored run can give is still worth a warning.
    assert with_full_run.skipped == (f"ignored the stored results of chaos in {path}: {reason}",)


def test_each_benchmark_comes_from_the_newest_run_that_has_it(
    tmp_path: Path, identity: RunIdentity, full_run, later_values
) -> None:
    store = ResultsStore(tmp_path)
    save_aged(store, identity, full_run, minutes_ago=90)  # entirely superseded: not used
    older = save_aged(store, identity, full_run, minutes_ago=60)
    quick = as_measured(subset(later_values, ["chaos", "nbody"]), "fast")
    newer = save_aged(store, identity, quick, minutes_ago=1)

    found = store.baseline(RunKey(identity.commit_sha, identity.machine))

    assert found.paths == (newer, older)
    assert found.skipped == ()
    expected = values_of(full_run)
    expected.update(values_of(quick))
    assert values_of(found.suite) == expected
    assert values_of(found.suite)["nbody"] != values_of(full_run)["nbody"]
    assert found.suite.get_benchmark("chaos").get_metadata()[md.MODE] == "fast"
    assert found.suite.get_benchmark("richards").get_metadata()[md.MODE] == "default"


def test_a_corrupt_run_is_skipped_with_a_warning_and_left_alone(
    tmp_path: Path, identity: RunIdentity, full_run
) -> None:
    store = ResultsStore(tmp_path)
    oldest = save_aged(store, identity, full_run, minutes_ago=60)
    corrupt = save_aged(store, identity, subset(full_run, ["chaos"]), minutes_ago=30)
    newest = save_aged(store, identity, subset(full_run, ["nbody"]), minutes_ago=1)
    corrupt.write_bytes(corrupt.read_bytes()[: corrupt.stat().st_size // 2])
    corrupt_bytes = corrupt.read_bytes()

    found = store.baseline(RunKey(identity.commit_sha, identity.machine))

    assert found.paths == (newest, oldest)
    assert values_of(found.suite) == values_of(full_run)
    assert len(found.skipped) == 1
    assert "\n" not in found.skipped[0]
    assert found.skipped[0].startswith(f"skipped a results file: results file {corrupt} is corrupt (invalid JSON")
    assert corrupt.read_bytes() == corrupt_bytes

    # A later "replace" must not pick the corrupt file either.
    replaced = store.save(identity, full_run, "replace")
    assert replaced == newest
    assert corrupt.read_bytes() == corrupt_bytes


def test_a_multi_result_benchmark_is_never_split_across_runs(
    tmp_path: Path, identity: RunIdentity, full_run, later_values
) -> None:
    store = ResultsStore(tmp_path)
    older = save_aged(store, identity, full_run, minutes_ago=60)
    # A later run whose deepcopy gave two results (another pyperformance version, say).
    two_results = as_measured(subset(later_values, ["deepcopy", "deepcopy_reduce"]))
    newer = save_aged(store, identity, two_results, minutes_ago=30)
    # The newest deepcopy run has one unusable result: the benchmark is not taken from it at all.
    unusable = as_measured(subset(later_values, ["deepcopy", "deepcopy_reduce", "deepcopy_memo"]))
    unusable = pyperf.BenchmarkSuite(
        [*unusable.get_benchmarks()[:2], few_values(unusable.get_benchmark("deepcopy_memo"), 1, 1)]
    )
    save_aged(store, identity, unusable, minutes_ago=1)

    found = store.baseline(RunKey(identity.commit_sha, identity.machine))

    assert found.paths == (newer, older)
    expected = {name: values for name, values in values_of(full_run).items() if not name.startswith("deepcopy")}
    expected.update(values_of(two_results))
    assert values_of(found.suite) == expected  # no deepcopy_memo from the older run
    assert found.skipped == ()


def test_results_without_benchmark_metadata_group_by_their_own_name(
    tmp_path: Path, identity: RunIdentity, seed_suite, later_values
) -> None:
    store = ResultsStore(tmp_path)
    deepcopies = ["deepcopy", "deepcopy_reduce", "deepcopy_memo"]
    older = save_aged(store, identity, subset(seed_suite, [*deepcopies, "chaos"]), minutes_ago=60)
    newer = save_aged(store, identity, subset(later_values, ["deepcopy_memo"]), minutes_ago=1)

    found = store.baseline(RunKey(identity.commit_sha, identity.machine))

    assert found.paths == (newer, older)
    assert values_of(found.suite) == {
        **values_of(subset(seed_suite, ["deepcopy", "deepcopy_reduce", "chaos"])),
        **values_of(subset(later_values, ["deepcopy_memo"])),
    }


def test_a_result_grouped_otherwise_in_a_newer_run_is_not_taken_twice(
    tmp_path: Path, identity: RunIdentity, full_run, later_values
) -> None:
    store = ResultsStore(tmp_path)
    older = save_aged(store, identity, full_run, minutes_ago=60)
    # No md.BENCHMARK_NAME (an older plugin): deepcopy_memo is a benchmark of its own there.
    newer = save_aged(store, identity, subset(later_values, ["deepcopy_memo"]), minutes_ago=1)

    found = store.baseline(RunKey(identity.commit_sha, identity.machine))

    assert found.paths == (newer, older)
    expected = {name: values for name, values in values_of(full_run).items() if not name.startswith("deepcopy")}
    expected.update(values_of(subset(later_values, ["deepcopy_memo"])))
    assert values_of(found.suite) == expected  # the older deepcopy would be split: not taken


def test_baseline_decides_on_metadata_when_names_collide(
    tmp_path: Path, identity: RunIdentity, full_run
) -> None:
    store = ResultsStore(tmp_path)
    dashed = save_aged(store, replace(identity, machine="build-box"), full_run, minutes_ago=60)
    save_aged(store, replace(identity, machine="build_box"), subset(full_run, ["nbody"]), minutes_ago=1)

    found = store.baseline(RunKey(identity.commit_sha, "build-box"))

    assert found.paths == (dashed,)
    assert values_of(found.suite) == values_of(full_run)


# -- concurrency and interrupted writes ---------------------------------------------------


SAVES_PER_PROCESS = 25


def _save_after_barrier(root: str, suite_file: str, identity: RunIdentity, barrier, results) -> None:
    suite = pyperf.BenchmarkSuite.load(suite_file)
    store = ResultsStore(Path(root))
    barrier.wait()
    for _ in range(SAVES_PER_PROCESS):
        results.put(str(store.save(identity, suite, "new")))


def _save_forever(root: str, suite_file: str, identity: RunIdentity) -> None:
    suite = pyperf.BenchmarkSuite.load(suite_file)
    store = ResultsStore(Path(root))
    while True:
        store.save(identity, suite, "new")


@pytest.mark.usefixtures("subprocesses")
def test_two_processes_saving_at_once_never_share_a_file(tmp_path: Path, identity, small_suite) -> None:
    # Many small saves each, so the name choices of the two processes overlap.
    suite_file = tmp_path / "suite.json"
    small_suite.dump(str(suite_file))
    root = tmp_path / "store"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(target=_save_after_barrier, args=(str(root), str(suite_file), identity, barrier, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    saved = [Path(results.get(timeout=120)) for _ in range(2 * SAVES_PER_PROCESS)]
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]

    assert len(set(saved)) == 2 * SAVES_PER_PROCESS
    assert json_files(root) == sorted(saved)
    for path in saved:
        assert identity_from_suite(pyperf.BenchmarkSuite.load(str(path))) == identity


@pytest.mark.usefixtures("subprocesses")
def test_killed_writer_leaves_no_partial_json_and_old_temp_files_go(
    tmp_path: Path, identity: RunIdentity, seed_suite
) -> None:
    suite_file = tmp_path / "suite.json"
    seed_suite.dump(str(suite_file))
    root = tmp_path / "store"
    folder = root / identity.folder_name()
    writer = multiprocessing.get_context("spawn").Process(
        target=_save_forever, args=(str(root), str(suite_file), identity)
    )
    store = ResultsStore(root)
    writer.start()
    try:
        # Read every file as soon as it has a .json name: none may ever be partial.
        verified: set[Path] = set()
        deadline = time.monotonic() + 60
        while len(verified) < 4 and time.monotonic() < deadline:
            for path in set(json_files(root)) - verified:
                store.load(path)
                verified.add(path)
    finally:
        os.kill(writer.pid, signal.SIGKILL)  # somewhere inside a later save
        writer.join()

    assert len(verified) >= 4
    for path in json_files(root):
        store.load(path)
    assert all(path.name.startswith((".tmp-", "bm-")) for path in folder.iterdir())

    stale = folder / ".tmp-stale.part"
    fresh = folder / ".tmp-fresh.part"
    stale.write_text("{")
    fresh.write_text("{")
    an_hour_ago = time.time() - STALE_TMP_SECONDS - 60
    for leftover in folder.glob(".tmp-*"):
        if leftover != fresh:
            os.utime(leftover, (an_hour_ago, an_hour_ago))
    count_before = len(json_files(root))

    store.save(identity, seed_suite, "new")

    assert [path.name for path in folder.glob(".tmp-*")] == [fresh.name]
    assert len(json_files(root)) == count_before + 1
    for path in json_files(root):
        store.load(path)


def test_a_working_tree_run_is_never_a_baseline_of_its_commit(
    tmp_path: Path, identity: RunIdentity, full_run, later_values
) -> None:
    # `--cpython-ref=WORKTREE` stores under the base commit's identity; its sources differ.
    store = ResultsStore(tmp_path)
    committed = save_aged(store, identity, full_run, minutes_ago=60)
    worktree = copy.deepcopy(as_measured(later_values))
    md.add_to_results(worktree, {md.WORKTREE_HASH: "0123456789abcdef"})
    save_aged(store, identity, worktree, minutes_ago=1)

    found = store.baseline(RunKey(identity.commit_sha, identity.machine))

    assert found.paths == (committed,)
    assert values_of(found.suite) == values_of(full_run)
