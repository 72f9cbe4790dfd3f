"""The benchmark suite as read from pyperformance's real manifests (no venv, no runs)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.suite import _pyperformance
from pytest_cpybench.suite._pyperformance import load_benchmarks
from pytest_cpybench.suite.definitions import suite_hash, supports
from pytest_cpybench.suite.selection import known_tags, select

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLE_MANIFEST = (
    Path(__file__).resolve().parents[2] / "examples" / "custom-benchmarks" / "MANIFEST"
)


@pytest.fixture(scope="module")
def suite():
    return load_benchmarks()


def manifest_entries(manifest: Path) -> list[str]:
    """Benchmark names of a manifest's [benchmarks] table, read without pyperformance."""
    names, in_table = [], False
    for raw in manifest.read_text("utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            in_table = line == "[benchmarks]"
        elif in_table and line != "name\tmetafile":
            names.append(line.split("\t")[0])
    return names


def declared_requires_python(metafile: str) -> str:
    """requires-python as written in the benchmark's toml, or in its folder's pyproject."""
    for path in (Path(metafile), Path(metafile).with_name("pyproject.toml")):
        project = tomllib.loads(path.read_text("utf-8")).get("project") or {}
        if "requires-python" in project:
            return project["requires-python"]
    return ""


def names(benchmarks) -> list[str]:
    return [bench.name for bench in benchmarks]


def test_loads_every_entry_of_the_default_manifest(suite):
    entries = manifest_entries(_pyperformance.default_manifest())
    assert len(suite) == len(entries)
    assert names(suite) == entries
    for bench in suite:
        assert Path(bench.runscript).is_file()
        assert Path(bench.metafile).is_file()
        assert bench.manifest == str(_pyperformance.default_manifest())
        assert re.fullmatch(r"[0-9a-f]{64}", bench.definition_hash)


def test_benchmarks_sharing_a_folder_keep_their_own_options(suite):
    by_name = {bench.name: bench for bench in suite}
    plain, eager = by_name["async_tree"], by_name["async_tree_eager"]
    assert plain.runscript == eager.runscript
    assert plain.extra_opts != eager.extra_opts
    assert plain.definition_hash != eager.definition_hash


def test_requirements_file_only_when_it_exists(suite):
    by_name = {bench.name: bench for bench in suite}
    assert by_name["crypto_pyaes"].requirements_file.endswith("bm_crypto_pyaes/requirements.txt")
    assert by_name["nbody"].requirements_file is None


def test_select_a_tag(suite):
    assert sorted(names(select(suite, "math"))) == ["float", "nbody", "pidigits"]
    for bench in select(suite, "apps"):
        assert "apps" in bench.tags


def test_select_without_inclusion_starts_from_default(suite):
    assert names(select(suite, None)) == names(suite)
    assert names(select(suite, "")) == names(suite)
    without_math = select(suite, "-math")
    assert len(without_math) == len(suite) - 3
    assert not {"float", "nbody", "pidigits"} & set(names(without_math))


def test_select_names_groups_and_exclusions(suite):
    assert names(select(suite, "math,-nbody")) == ["float", "pidigits"]
    assert names(select(suite, " NBody , deepcopy ")) == ["deepcopy", "nbody"]  # suite order
    regex = select(suite, "regex")
    assert names(select(suite, "regex,-regex_v8")) == [n for n in names(regex) if n != "regex_v8"]


def test_selection_that_leaves_nothing_is_an_error(suite):
    with pytest.raises(CpybenchError, match="leaves no benchmark"):
        select(suite, "nbody,-nbody")


def test_unknown_name_suggests_close_matches(suite):
    with pytest.raises(CpybenchError) as excinfo:
        select(suite, "nbdy,deepcopy")
    message = str(excinfo.value)
    assert "'nbdy'" in message and "did you mean nbody" in message
    assert "\n" not in message
    with pytest.raises(CpybenchError, match="did you mean math"):
        select(suite, "-mth")


def test_known_tags_of_the_default_suite(suite):
    assert known_tags(suite) == [
        "apps",
        "asyncio",
        "math",
        "regex",
        "serialize",
        "startup",
        "template",
    ]
    assert known_tags() == known_tags(suite)


def test_supports_checks_the_target_version(suite):
    target = "3.11.7"
    expected = {
        bench.name: declared_requires_python(bench.metafile)
        for bench in suite
        if not SpecifierSet(declared_requires_python(bench.metafile)).contains(target)
    }
    assert expected, "the manifest has benchmarks newer than 3.11; the test needs one"
    reasons = {bench.name: supports(bench, target) for bench in suite}
    assert {name for name, reason in reasons.items() if reason} == set(expected)
    for name, spec in expected.items():
        assert reasons[name] == f"requires Python {spec}"


def test_supports_counts_prereleases_of_the_target(suite):
    # A CPython built from main is an alpha: ">=3.12" must accept 3.14.0a1.
    assert all(supports(bench, "3.14.0a1") is None for bench in suite)
    assert all(supports(bench, "3.14.0a1+") is None for bench in suite)
    with pytest.raises(CpybenchError, match="cannot read a Python version"):
        supports(next(b for b in suite if b.requires_python), "python3")


def test_suite_hash_is_short_stable_and_selection_dependent(suite):
    full = suite_hash(suite)
    assert re.fullmatch(r"[0-9a-f]{6}", full)
    assert suite_hash(load_benchmarks()) == full
    assert suite_hash(reversed(suite)) == full
    assert suite_hash(select(suite, "-nbody")) != full


def test_extra_manifest_adds_benchmarks_tags_and_groups():
    benchmarks = load_benchmarks([EXAMPLE_MANIFEST])
    default_count = len(manifest_entries(_pyperformance.default_manifest()))
    assert len(benchmarks) == default_count + len(manifest_entries(EXAMPLE_MANIFEST))
    assert names(select(benchmarks, "str_join,dict_merge")) == ["str_join", "dict_merge"]
    assert names(select(benchmarks, "builtins")) == ["str_join", "dict_merge"]
    assert names(select(benchmarks, "builtins,-dict_merge")) == ["str_join"]
    assert names(select(benchmarks, "strings")) == ["str_join"]
    assert {"strings", "dicts"} <= set(known_tags(benchmarks))
    custom = {bench.name: bench for bench in benchmarks}["dict_merge"]
    assert custom.manifest == str(EXAMPLE_MANIFEST)
    assert supports(custom, "3.8.18") == "requires Python >=3.9"


def test_definition_hash_follows_the_benchmark_files(tmp_path):
    copy = tmp_path / "custom"
    shutil.copytree(EXAMPLE_MANIFEST.parent, copy)

    def hashes():
        loaded = load_benchmarks([copy / "MANIFEST"])
        return {b.name: b.definition_hash for b in loaded}, suite_hash(select(loaded, "builtins"))

    before, suite_before = hashes()
    data_file = copy / "bm_str_join" / "data" / "words.txt"
    data_file.parent.mkdir()
    data_file.write_text("alpha beta\n")
    after, suite_after = hashes()
    assert after["str_join"] != before["str_join"]
    assert after["dict_merge"] == before["dict_merge"]
    assert suite_after != suite_before
    # Byte-compiled files say nothing about the benchmark.
    (copy / "bm_dict_merge" / "__pycache__").mkdir()
    (copy / "bm_dict_merge" / "__pycache__" / "run_benchmark.cpython-311.pyc").write_bytes(b"x")
    assert hashes()[0] == after


VALID_PYPROJECT = (
    '[project]\nname = "{name}"\nversion = "1"\n[tool.pyperformance]\nname = "{name}"\n'
)


def write_manifest(folder: Path, text: str) -> Path:
    manifest = folder / "MANIFEST"
    manifest.write_text(text, "utf-8")
    return manifest


def write_benchmark(folder: Path, name: str, pyproject: str) -> None:
    bench_dir = folder / f"bm_{name}"
    bench_dir.mkdir()
    (bench_dir / "pyproject.toml").write_text(pyproject, "utf-8")
    (bench_dir / "run_benchmark.py").write_text("import pyperf\n", "utf-8")


def test_missing_manifest_is_a_one_line_error(tmp_path):
    with pytest.raises(CpybenchError, match="does not exist") as excinfo:
        load_benchmarks([tmp_path / "nope" / "MANIFEST"])
    assert "\n" not in str(excinfo.value)


def test_manifest_with_spaces_instead_of_tabs(tmp_path):
    manifest = write_manifest(tmp_path, "[benchmarks]\nname metafile\nfoo <local>\n")
    with pytest.raises(CpybenchError, match="name<TAB>metafile"):
        load_benchmarks([manifest])


def test_benchmark_without_version(tmp_path, capsys):
    manifest = write_manifest(tmp_path, "[benchmarks]\nname\tmetafile\nfoo\t<local>\n")
    write_benchmark(
        tmp_path, "foo", '[project]\nname = "foo"\n[tool.pyperformance]\nname = "foo"\n'
    )
    with pytest.raises(CpybenchError, match=r"invalid benchmark 'foo' .*version") as excinfo:
        load_benchmarks([manifest])
    assert "\n" not in str(excinfo.value)
    assert capsys.readouterr().out == ""  # pyperformance's diagnostics do not leak


def test_benchmark_without_run_script(tmp_path):
    manifest = write_manifest(tmp_path, "[benchmarks]\nname\tmetafile\nfoo\t<local>\n")
    write_benchmark(tmp_path, "foo", VALID_PYPROJECT.format(name="foo"))
    (tmp_path / "bm_foo" / "run_benchmark.py").unlink()
    with pytest.raises(CpybenchError, match="has no run script"):
        load_benchmarks([manifest])


def test_benchmark_without_tool_table(tmp_path):
    manifest = write_manifest(tmp_path, "[benchmarks]\nname\tmetafile\nfoo\t<local>\n")
    write_benchmark(tmp_path, "foo", '[project]\nname = "foo"\nversion = "1"\n')
    with pytest.raises(CpybenchError, match=r"needs a \[tool.pyperformance\] table"):
        load_benchmarks([manifest])


def test_a_name_declared_twice_is_an_error(tmp_path):
    manifest = write_manifest(tmp_path, "[benchmarks]\nname\tmetafile\nnbody\t<local>\n")
    write_benchmark(tmp_path, "nbody", VALID_PYPROJECT.format(name="nbody"))
    with pytest.raises(CpybenchError, match="'nbody' is declared by both"):
        load_benchmarks([manifest])


def test_a_manifest_including_the_default_one(tmp_path):
    manifest = write_manifest(
        tmp_path, "[includes]\n<default>\n\n[benchmarks]\nname\tmetafile\nfoo\t<local>\n"
    )
    write_benchmark(tmp_path, "foo", VALID_PYPROJECT.format(name="foo"))
    benchmarks = load_benchmarks([manifest])
    assert names(benchmarks)[-1] == "foo"
    assert len(benchmarks) == len(manifest_entries(_pyperformance.default_manifest())) + 1
