"""examples/github-actions/: the CI workflow's shape, and its scripts run here (issue 14).

The workflow runs on self-hosted GitHub runners, which these tests do not have; what can run here
does. Each `run:` script is executed with bash the way GitHub runs `shell: bash`
(``bash --noprofile --norc -eo pipefail``), with the job's `env:` given the values a dispatch
would give it: the benchmark step against the test repository (``--collect-only``: no build), the
push step against a local results repository that another machine pushed to first, the comment
step with a stand-in for ``gh``.

PyYAML is not a dependency of this project, so the workflow is read by a small reader of the YAML
subset workflows are written in (below), which refuses anything outside it rather than guess;
when PyYAML is importable, one test checks that both read the workflow alike.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from helpers import run

from pytest_cpybench import pages
from pytest_cpybench.options import OPTIONS

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "github-actions"
WORKFLOW = EXAMPLE / "benchmark.yml"
EXPRESSION = "${{"


# --- a reader for the YAML subset of GitHub workflows ---------------------------------------------

_KEY = re.compile(r"""^(?P<key>[A-Za-z0-9_][\w.-]*|"[^"\\]*"|'[^']*'):(?:[ ]+(?P<rest>.*))?$""")
# YAML 1.1 readers (PyYAML) take these as booleans, GitHub as strings: quote them.
_AMBIGUOUS = {"yes", "no", "on", "off", "y", "n", "True", "False", "TRUE", "FALSE", "Yes", "No", "On", "Off"}


class YamlSubsetError(ValueError):
    pass


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _strip_comment(text: str) -> str:
    """``text`` without a trailing `` # comment`` (a ``#`` inside quotes is kept)."""
    quote = ""
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'" and (index == 0 or text[index - 1] in " [,"):
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] == " "):
            return text[:index].rstrip()
        index += 1
    return text.rstrip()


def _flow_sequence(text: str) -> list[Any]:
    if not text.endswith("]"):
        raise YamlSubsetError(f"unterminated flow sequence: {text}")
    items, current, quote = [], "", ""
    for char in text[1:-1]:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'" and not current.strip():
            quote = char
        elif char in "[]{}":
            raise YamlSubsetError(f"nested flow collections are not supported: {text}")
        elif char == ",":
            items.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip() or items:
        items.append(current.strip())
    if any(not item for item in items):
        raise YamlSubsetError(f"empty item in {text}")
    return [_scalar(item) for item in items]


def _scalar(text: str) -> Any:
    if text.startswith('"'):
        try:
            return json.loads(text)  # YAML's double-quoted escapes that a workflow needs are JSON's
        except ValueError as err:
            raise YamlSubsetError(f"not one double-quoted string: {text}") from err
    if text.startswith("'"):
        if len(text) < 2 or not text.endswith("'"):
            raise YamlSubsetError(f"not one single-quoted string: {text}")
        return text[1:-1].replace("''", "'")
    if text.startswith("["):
        return _flow_sequence(text)
    if text[0] in "{&*!|>%@`":
        raise YamlSubsetError(f"unsupported YAML construct: {text}")
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~"):
        return None
    if text in _AMBIGUOUS:
        raise YamlSubsetError(f"{text!r} is a boolean to some YAML readers and a string to others: quote it")
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    return text


class _Reader:
    """Block mappings and sequences, ``|`` literal blocks, quoted and plain scalars, one-level flow
    sequences, comments. Anchors, tags, flow mappings, folded blocks and tabs are refused."""

    def __init__(self, text: str) -> None:
        if "\t" in text:
            raise YamlSubsetError("tab character in YAML")
        self.lines = text.splitlines()
        self.pos = 0

    def read(self) -> Any:
        line = self._peek()
        if line is None:
            return None
        value = self._node(line[0])
        if self._peek() is not None:
            raise YamlSubsetError(f"line {self.pos + 1}: unexpected indentation")
        return value

    def _peek(self) -> tuple[int, str] | None:
        """Indentation and text of the next line that is neither blank nor a comment."""
        while self.pos < len(self.lines):
            raw = self.lines[self.pos]
            text = raw.strip()
            if text in ("---", "..."):
                raise YamlSubsetError("documents markers are not supported")
            if text and not text.startswith("#"):
                return len(raw) - len(raw.lstrip(" ")), text
            self.pos += 1
        return None

    def _node(self, indent: int) -> Any:
        line = self._peek()
        assert line is not None
        return self._sequence(indent) if _is_item(line[1]) else self._mapping(indent)

    def _mapping(self, indent: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        while (line := self._peek()) is not None and line[0] >= indent:
            match = _KEY.match(line[1])
            if line[0] > indent or match is None:
                raise YamlSubsetError(f"line {self.pos + 1}: expected 'key:' at column {indent}: {line[1]}")
            key = match["key"]
            key = _scalar(key) if key[0] in "\"'" else key
            if key in result:
                raise YamlSubsetError(f"line {self.pos + 1}: duplicate key {key!r}")
            self.pos += 1
            result[key] = self._value(match["rest"] or "", indent)
        return result

    def _value(self, rest: str, indent: int) -> Any:
        rest = _strip_comment(rest)
        if rest == "|":
            return self._literal(indent)
        if rest:
            return _scalar(rest)
        line = self._peek()  # the value is the block below: deeper, or a sequence at the key's column
        if line is not None and (line[0] > indent or (line[0] == indent and _is_item(line[1]))):
            return self._node(line[0])
        return None

    def _literal(self, indent: int) -> str:
        lines: list[str] = []
        block_indent: int | None = None
        while self.pos < len(self.lines):
            raw = self.lines[self.pos]
            if raw.strip():
                column = len(raw) - len(raw.lstrip(" "))
                if column <= indent or (block_indent is not None and column < block_indent):
                    break
                block_indent = column if block_indent is None else block_indent
                lines.append(raw[block_indent:])
            else:
                lines.append("")
            self.pos += 1
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + "\n" if lines else ""  # "|": one final newline kept

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while (line := self._peek()) is not None and line[0] == indent and _is_item(line[1]):
            content = line[1][1:]
            body = content.lstrip(" ")
            if not body:  # "-" alone: the item is the block below it
                self.pos += 1
                below = self._peek()
                items.append(self._node(below[0]) if below is not None and below[0] > indent else None)
            elif _KEY.match(body):  # "- key: value": a mapping that starts on this line
                column = indent + 1 + len(content) - len(body)
                self.lines[self.pos] = " " * column + body
                items.append(self._mapping(column))
            else:
                self.pos += 1
                items.append(_scalar(_strip_comment(body)))
        return items


def load_yaml(text: str) -> Any:
    return _Reader(text).read()


# --- the workflow ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = load_yaml(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _job(workflow: Mapping[str, Any]) -> dict[str, Any]:
    jobs = workflow["jobs"]
    assert list(jobs) == ["benchmark"], "the example has one job, run once per machine"
    job: dict[str, Any] = jobs["benchmark"]
    return job


def _step(workflow: Mapping[str, Any], step_id: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [step for step in _job(workflow)["steps"] if step.get("id") == step_id]
    assert len(steps) == 1, f"no step with id {step_id!r}"
    return steps[0]


def _runners(workflow: Mapping[str, Any]) -> list[str]:
    runners = _job(workflow)["strategy"]["matrix"]["runner"]
    assert isinstance(runners, list)
    return runners


def _with_values(declared: Mapping[str, Any] | None, values: Mapping[str, str]) -> dict[str, str]:
    """An `env:` block with the values GitHub would evaluate its expressions to, given here. A
    variable the test gives no value fails, so a new one cannot go untested."""
    declared = declared or {}
    missing = sorted(set(declared) - set(values))
    assert not missing, f"no test value for {missing}: add them to this test"
    return {name: values[name] for name in declared}


def _bash_step(script: str, cwd: Path, env: Mapping[str, str], timeout: float = 600,
               ) -> subprocess.CompletedProcess[str]:
    """Run a `run:` script as GitHub runs `shell: bash`, with this project's interpreter as `python`
    (the workflow puts its venv on PATH), in a clean environment: no GITHUB_* variable (the plugin
    would append to a real step summary), no PYTEST_ADDOPTS or CPYBENCH_* of the caller, and no git
    configuration of the machine."""
    script_file = cwd.parent / f".step-{cwd.name}.sh"
    script_file.write_text(script, encoding="utf-8")
    base = {name: value for name, value in os.environ.items()
            if not name.startswith(("GITHUB_", "CPYBENCH_", "GIT_", "RUNNER_")) and name != "PYTEST_ADDOPTS"}
    full_env = {**base, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, **env}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    print(f"$ bash {script_file}\n--- exit {done.returncode}\n{done.stdout}\n--- stderr\n{done.stderr}")
    return done


def _dispatch_values(runner: str, **overrides: str) -> dict[str, str]:
    """What the job's `env:` holds for a dispatch with these inputs, on the machine ``runner``."""
    values = {"CPYTHON_REPO": "https://example.invalid/python/cpython", "CPYTHON_REF": "main",
              "CPYTHON_BASELINE": "", "CPYTHON_FORK": "", "CPYTHON_BENCHMARKS": "", "CPYTHON_BUILD": "release",
              "MACHINE": runner, "CPYBENCH_CACHE_DIR": ""}
    values.update(overrides)
    return values


# --- the shape ------------------------------------------------------------------------------------


def test_one_job_per_runner_each_in_its_own_concurrency_group(workflow: dict[str, Any]) -> None:
    job = _job(workflow)
    assert len(_runners(workflow)) >= 2 and len(set(_runners(workflow))) == len(_runners(workflow))
    assert job["runs-on"] == ["self-hosted", "${{ matrix.runner }}"]
    # Group per machine, never cancelling a measurement under way.
    assert job["concurrency"] == {"group": "bench-${{ matrix.runner }}", "cancel-in-progress": False}
    assert job["strategy"]["fail-fast"] is False, "a regression on one machine would cancel the others"
    assert job["env"]["MACHINE"] == "${{ matrix.runner }}", "results must be stored under the runner's label"


def test_scripts_take_no_expressions(workflow: dict[str, Any]) -> None:
    """An expression in a `run:` script is pasted into the shell before it runs: an input such as
    ``main"; curl …`` would run as a command. Inputs go through `env:` and are quoted instead."""
    for step in _job(workflow)["steps"]:
        script = step.get("run", "")
        assert EXPRESSION not in script, f"step {step['name']!r} interpolates an expression into its script"
        assert "GITHUB_STEP_SUMMARY" not in script, "the plugin appends the summary itself"


def test_every_dispatch_input_reaches_the_scripts(workflow: dict[str, Any]) -> None:
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]
    assert {"ref", "baseline", "benchmarks", "fork"} <= set(inputs)
    environment = " ".join(_job(workflow)["env"].values())
    for name in inputs:
        assert f"inputs.{name}" in environment, f"input {name!r} is never used"
    # Pull requests: only when a maintainer labels one (the runners build and run its code).
    assert workflow["on"]["pull_request"] == {"types": ["labeled"]}
    assert "github.event.label.name == 'benchmark'" in _job(workflow)["if"]


def test_results_are_pushed_and_published_when_the_gate_fails(workflow: dict[str, Any]) -> None:
    steps = _job(workflow)["steps"]
    names = [step.get("id") for step in steps]
    after = steps[names.index("bench") + 1:]
    assert after and "continue-on-error" not in _step(workflow, "bench"), "the gate must fail the job"
    for step in after:
        assert "!cancelled()" in step.get("if", ""), f"step {step['name']!r} is skipped when the gate fails"
    comment = [step for step in after if "gh pr comment" in step.get("run", "")]
    assert len(comment) == 1 and "github.event_name == 'pull_request'" in comment[0]["if"]
    assert workflow["defaults"]["run"]["shell"] == "bash", "the scripts need bash -eo pipefail"


def test_every_option_named_is_the_plugins() -> None:
    known = {option.name for option in OPTIONS}
    for path in (WORKFLOW, EXAMPLE / "README.md"):
        named = set(re.findall(r"--(cpython-[a-z]+(?:-[a-z]+)*)", path.read_text(encoding="utf-8")))
        assert named, path
        assert named <= known, f"{path.name} names options the plugin does not have: {sorted(named - known)}"


# --- the scripts, run here ------------------------------------------------------------------------


def _argv_of(done: subprocess.CompletedProcess[str], argv_file: Path) -> list[str]:
    assert done.returncode == 0, done.stderr
    return argv_file.read_text().split("\0")[:-1]


def test_benchmark_step_passes_each_input_as_one_argument(workflow: dict[str, Any], tmp_path: Path) -> None:
    """With a stand-in `python` that records its arguments: quoting holds for hostile inputs, and
    optional inputs add their option only when given."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "python").write_text('#!/bin/sh\nprintf \'%s\\0\' "$@" > "$ARGV_FILE"\n')
    (stub / "python").chmod(0o755)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    step = _step(workflow, "bench")
    runner = _runners(workflow)[0]
    hostile = 'main"; touch pwned; echo "'
    env = {**_with_values(_job(workflow)["env"], _dispatch_values(runner, CPYTHON_REF=hostile)),
           **_with_values(step.get("env"), {}), "ARGV_FILE": str(tmp_path / "argv"),
           "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}"}
    argv = _argv_of(_bash_step(step["run"], workspace, env), tmp_path / "argv")
    assert not (workspace / "pwned").exists()
    assert argv[:2] == ["-m", "pytest"]
    assert f"--cpython-ref={hostile}" in argv
    assert f"--cpython-machine={runner}" in argv
    assert not [arg for arg in argv if arg.startswith(("--cpython-baseline", "--cpython-benchmarks"))]
    assert {"--cpython-report=results/results", "--cpython-pr-comment=comment.md", "--junitxml=junit.xml"} <= set(argv)

    env.update(CPYTHON_FORK="markshannon", CPYTHON_REF="faster", CPYTHON_BASELINE="v3.13.5,merge-base",
               CPYTHON_BENCHMARKS="math,-pidigits")
    argv = _argv_of(_bash_step(step["run"], workspace, env), tmp_path / "argv")
    assert {"--cpython-ref=markshannon:faster", "--cpython-baseline=v3.13.5,merge-base",
            "--cpython-benchmarks=math,-pidigits"} <= set(argv)


@pytest.mark.slow  # makes the test CPython repository once (cached); then a few seconds
def test_benchmark_step_collects_against_the_test_repository(workflow: dict[str, Any], repo: Path,
                                                             tmp_path: Path) -> None:
    """The step's real command line, parsed by the plugin: `--collect-only` (through PYTEST_ADDOPTS,
    as a user would add it) resolves the refs and selects the benchmarks, and builds nothing."""
    workspace = tmp_path / "workspace"
    (workspace / "results").mkdir(parents=True)  # the results repository's checkout
    cache = tmp_path / "cache"
    values = _dispatch_values(_runners(workflow)[0], CPYTHON_REPO=str(repo), CPYTHON_REF="v3.13.5",
                              CPYTHON_BASELINE="v3.11.2", CPYTHON_BENCHMARKS="nbody,json_dumps",
                              CPYBENCH_CACHE_DIR=str(cache))
    step = _step(workflow, "bench")
    env = {**_with_values(_job(workflow)["env"], values), **_with_values(step.get("env"), {}),
           "PYTEST_ADDOPTS": "--collect-only -q -p no:cacheprovider"}
    done = _bash_step(step["run"], workspace, env)
    assert done.returncode == 0, done.stdout
    collected = sorted(line.strip() for line in done.stdout.splitlines() if line.startswith("pyperformance::"))
    assert collected == ["pyperformance::json_dumps", "pyperformance::nbody"], done.stdout
    assert not (cache / "builds").exists(), "collecting built something"


def _git(*args: str, cwd: Path) -> str:
    done = run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args], cwd=cwd,
               env={"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    assert done.returncode == 0, done.stderr
    return str(done.stdout).strip()


def _store_run(workspace: Path, machine: str) -> Path:
    """What a session leaves in the results checkout: a results file and the rebuilt index."""
    root = workspace / "results" / "results"
    folder = root / "bm-20250611-3.13.5-287b767"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bm-20250611-{machine}-x86_64-python-v3.13.5-3.13.5-287b767.json"
    path.write_text("{}\n")
    pages.write_index(root)
    return path


def test_push_step_rebases_onto_another_machines_results(workflow: dict[str, Any], tmp_path: Path) -> None:
    """Two machines benchmark at once; the other pushes first. Both rewrote the index: the push
    step rebases, rebuilds the index from both runs' files, and pushes."""
    seed = tmp_path / "seed"
    seed.mkdir()
    _git("init", "-q", "-b", "main", cwd=seed)
    (seed / "README.md").write_text("# Benchmark results\n")
    _git("add", "README.md", cwd=seed)
    _git("commit", "-q", "-m", "seed", cwd=seed)
    remote = tmp_path / "results.git"
    _git("clone", "-q", "--bare", str(seed), str(remote), cwd=tmp_path)
    alpha, beta = tmp_path / "alpha", tmp_path / "beta"
    for workspace in (alpha, beta):
        workspace.mkdir()
        _git("clone", "-q", str(remote), "results", cwd=workspace)
    ours = _store_run(alpha, "alpha")
    _store_run(beta, "beta")
    _git("add", "-A", cwd=beta / "results")
    _git("commit", "-q", "-m", "beta", cwd=beta / "results")
    _git("push", "-q", "origin", "HEAD:main", cwd=beta / "results")

    step = _step(workflow, "push")
    output = tmp_path / "github-output"
    env = {**_with_values(_job(workflow)["env"], _dispatch_values("alpha", CPYTHON_REF="v3.13.5")),
           **_with_values(step.get("env"), {}), "GITHUB_OUTPUT": str(output)}
    done = _bash_step(step["run"], alpha, env)
    assert done.returncode == 0, done.stderr

    pushed = _git("rev-parse", "main", cwd=remote)
    assert output.read_text() == f"sha={pushed}\n"
    check = tmp_path / "check"
    _git("clone", "-q", str(remote), str(check), cwd=tmp_path)
    stored = sorted(path.name for path in (check / "results").glob("bm-*/bm-*.json"))
    assert stored == ["bm-20250611-alpha-x86_64-python-v3.13.5-3.13.5-287b767.json",
                      "bm-20250611-beta-x86_64-python-v3.13.5-3.13.5-287b767.json"]
    index = (check / "results" / "README.md").read_text()
    assert "| alpha" in index and "| beta" in index, index
    assert _git("log", "-1", "--format=%s", cwd=check) == "Results of v3.13.5 on alpha"
    # The artifact holds this run's files only.
    assert (alpha / "report" / ours.relative_to(alpha / "results")).exists()
    assert not list((alpha / "report").glob("**/*beta*"))

    again = _bash_step(step["run"], alpha, env)  # nothing new: no empty commit
    assert again.returncode == 0 and "no new results to push" in again.stdout
    assert _git("rev-parse", "main", cwd=remote) == pushed


def test_comment_step_links_the_results_repository(workflow: dict[str, Any], tmp_path: Path) -> None:
    """The plugin's comment links pages relative to the report folder; on the pull request they
    must point into the results repository."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "gh").write_text('#!/bin/sh\nprintf \'%s\\0\' "$@" > "$ARGV_FILE"\n')
    (stub / "gh").chmod(0o755)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "comment.md").write_text(
        "### pytest-cpybench: head\n\n"
        "**vs. 3.13.5**: 1.01x faster ([table](bm-20250611-3.13.5-287b767/x-vs-3.13.5.md))\n\n"
        "[Full report](bm-20250611-3.13.5-287b767/README.md)\n")
    step = next(step for step in _job(workflow)["steps"] if "gh pr comment" in step.get("run", ""))
    base = "https://example.invalid/owner/results/blob/0123abc/results/"
    env = {**_with_values(_job(workflow)["env"], _dispatch_values("alpha")),
           **_with_values(step.get("env"), {"GH_TOKEN": "token", "PR_NUMBER": "7", "RESULTS_URL": base}),
           "GITHUB_REPOSITORY": "owner/cpython", "ARGV_FILE": str(tmp_path / "argv"),
           "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}"}
    argv = _argv_of(_bash_step(step["run"], workspace, env), tmp_path / "argv")
    assert argv[:5] == ["pr", "comment", "7", "--repo", "owner/cpython"]
    body = (workspace / argv[argv.index("--body-file") + 1]).read_text()
    assert f"([table]({base}bm-20250611-3.13.5-287b767/x-vs-3.13.5.md))" in body
    assert f"[Full report]({base}bm-20250611-3.13.5-287b767/README.md)" in body


# --- the reader itself ----------------------------------------------------------------------------


def test_yaml_subset_reader() -> None:
    text = (
        "on:\n  push:\n    branches: [main, 'release-*']  # comment\n"
        "jobs:\n  a:\n    runs-on: [self-hosted, \"${{ matrix.x }}\"]\n    steps:\n"
        "      - name: \"one # not a comment\"\n        run: |\n          # a shell comment\n          echo 'a: b'\n\n"
        "          done\n      - uses: x@v1\n        with:\n          n: 3\n    flag: false\n    empty:\n"
    )
    assert load_yaml(text) == {
        "on": {"push": {"branches": ["main", "release-*"]}},
        "jobs": {"a": {"runs-on": ["self-hosted", "${{ matrix.x }}"],
                       "steps": [{"name": "one # not a comment", "run": "# a shell comment\necho 'a: b'\n\ndone\n"},
                                 {"uses": "x@v1", "with": {"n": 3}}],
                       "flag": False, "empty": None}}}
    for bad in ("a: &anchor x\n", "a: {b: c}\n", "a: >\n  folded\n", "a: yes\n", "a:\n\tb: c\n", "a: 1\n a: 2\n"):
        with pytest.raises(YamlSubsetError):
            load_yaml(bad)


def test_yaml_subset_reader_agrees_with_pyyaml() -> None:
    yaml = pytest.importorskip("yaml")
    text = WORKFLOW.read_text(encoding="utf-8")
    theirs = yaml.safe_load(text)
    theirs["on"] = theirs.pop(True)  # YAML 1.1: the key `on` is a boolean there
    assert load_yaml(text) == theirs
