"""examples/github-actions/: the CI workflow's shape, and its scripts run here.

The workflow runs on self-hosted GitHub runners, which these tests do not have; what can run here
does. Each `run:` script is executed with bash the way GitHub runs `shell: bash`
(``bash --noprofile --norc -eo pipefail``), with the job's `env:` given the values a dispatch
would give it: the benchmark step against the test repository (``--collect-only``: no build), the
push step against a local results repository that another machine pushed to first, the comment
step with a stand-in for ``gh``.

The workflow is read with PyYAML (a test dependency), as GitHub reads it: the key ``on`` is a
string there, a YAML 1.1 boolean for PyYAML.
"""

from __future__ import annotations

import base64
import http.server
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run

from pytest_cpybench.options import OPTIONS
from pytest_cpybench.output import pages

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "github-actions"
WORKFLOW = EXAMPLE / "benchmark.yml"
EXPRESSION = "${{"


# --- the workflow ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as a boolean; GitHub as "on"
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
              "MACHINE": runner, "CPYBENCH_CACHE_DIR": "", "NIGHTLY_SINCE": "v3.14.0", "NIGHTLY_EVERY": "1"}
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
    assert workflow["on"]["pull_request_target"] == {"types": ["labeled"]}
    assert "github.event.label.name == 'benchmark'" in _job(workflow)["if"]


def test_pull_requests_run_the_base_repositorys_workflow(workflow: dict[str, Any]) -> None:
    """For `pull_request` GitHub runs the workflow file of the pull request's merge commit: the pull
    request could drop the label check. `pull_request_target` runs the base repository's file, and
    gets its secrets: acceptable because no step checks out the pull request's code (the plugin
    fetches the head sha itself)."""
    assert set(workflow["on"]) == {"workflow_dispatch", "pull_request_target", "schedule"}
    assert _job(workflow)["if"] == ("${{ github.event_name == 'workflow_dispatch' || github.event_name == 'schedule' "
                                    "|| (github.event_name == 'pull_request_target' && "
                                    "github.event.label.name == 'benchmark') }}")
    text = WORKFLOW.read_text(encoding="utf-8")
    assert not re.search(r"event_name\s*[!=]=\s*'pull_request'", text), "a condition still tests for pull_request"
    env = _job(workflow)["env"]
    assert env["CPYTHON_REF"].startswith("${{ github.event_name == 'pull_request_target' && "
                                         "github.event.pull_request.head.sha || inputs.ref || ")
    assert env["CPYTHON_REPO"].startswith("${{ github.event_name == 'pull_request_target' && format('{0}/{1}', "
                                          "github.server_url, github.repository) || inputs.repo || ")
    assert env["CPYTHON_BASELINE"].startswith("${{ github.event_name == 'pull_request_target' && 'merge-base'")
    # The pull request's code is never checked out or run by a step: only the plugin fetches it.
    for step in _job(workflow)["steps"]:
        if step.get("uses", "").startswith("actions/checkout"):
            assert step["with"]["repository"] == "${{ vars.RESULTS_REPO }}" and "ref" not in step["with"]
        assert "github.event.pull_request.head" not in str(step), f"step {step['name']!r} uses the head"


def test_results_are_pushed_and_published_when_the_gate_fails(workflow: dict[str, Any]) -> None:
    steps = _job(workflow)["steps"]
    names = [step.get("id") for step in steps]
    after = steps[names.index("bench") + 1:]
    assert after and "continue-on-error" not in _step(workflow, "bench"), "the gate must fail the job"
    for step in after:
        assert "!cancelled()" in step.get("if", ""), f"step {step['name']!r} is skipped when the gate fails"
    comment = [step for step in after if "gh pr comment" in step.get("run", "")]
    assert len(comment) == 1 and "github.event_name == 'pull_request_target'" in comment[0]["if"]
    assert workflow["defaults"]["run"]["shell"] == "bash", "the scripts need bash -eo pipefail"


def test_only_the_push_step_has_the_results_token(workflow: dict[str, Any]) -> None:
    """The Benchmark step builds and runs code of the ref (a pull request's): the checkout keeps
    no credentials in results/.git/config, and the token is in the push step's environment alone."""
    job = _job(workflow)
    assert "RESULTS_TOKEN" not in str(job["env"]) and "token" not in str(job["env"]).lower()
    checkout = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["persist-credentials"] is False, "the token would stay in results/.git/config"
    assert _step(workflow, "push")["env"] == {"RESULTS_TOKEN": "${{ secrets.RESULTS_TOKEN || github.token }}"}
    for step in job["steps"]:
        if step is checkout or step.get("id") == "push":
            continue
        assert "RESULTS_TOKEN" not in str(step), f"step {step['name']!r} gets the results token"
    for step in job["steps"][:[step.get("id") for step in job["steps"]].index("bench") + 1]:
        assert "token" not in str(step.get("env", {})).lower(), f"step {step['name']!r} gets a token"


def test_scripts_use_no_gnu_only_options(workflow: dict[str, Any]) -> None:
    """A runner may be a Mac: BSD's cp has no --parents or -t, and xargs -r is GNU's."""
    for step in _job(workflow)["steps"]:
        script = "\n".join(line for line in step.get("run", "").splitlines() if not line.lstrip().startswith("#"))
        for gnu in (r"cp\b[^\n|;]*\s(--parents|-t)\b", r"xargs\b[^\n|;]*\s(-r|--no-run-if-empty)\b",
                    r"readlink -f", r"sed -i", r"\bstat -c"):
            assert not re.search(gnu, script), f"step {step['name']!r}: {gnu}"


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


def _recording_command(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A folder with a stand-in ``name`` that writes its arguments to $ARGV_FILE, and a workspace."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / name).write_text('#!/bin/sh\nprintf \'%s\\0\' "$@" > "$ARGV_FILE"\n')
    (stub / name).chmod(0o755)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return stub, workspace


@pytest.mark.usefixtures("subprocesses")
def test_benchmark_step_passes_each_input_as_one_argument(workflow: dict[str, Any], tmp_path: Path) -> None:
    """With a stand-in `python` that records its arguments: quoting holds for hostile inputs, and
    optional inputs add their option only when given."""
    stub, workspace = _recording_command(tmp_path, "python")
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


class _GitServer(http.server.ThreadingHTTPServer):
    """Git's smart HTTP (`git http-backend`) for the bare repositories in ``root``, answering only
    requests authenticated as with a GitHub token (basic auth, user x-access-token, the token as
    password), like a private results repository. Keeps what each request asked for."""

    def __init__(self, root: Path, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _GitHandler)
        self.root = root
        self.expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.requests: list[tuple[str, bool]] = []  # (path and query, authenticated)


class _GitHandler(http.server.BaseHTTPRequestHandler):
    server: _GitServer

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def log_message(self, format: str, *args: Any) -> None:  # no access log in the output
        pass

    def _backend(self) -> None:
        authenticated = self.headers.get("Authorization") == self.server.expected
        self.server.requests.append((self.path, authenticated))
        if not authenticated:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="results"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        env = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
               "GIT_PROJECT_ROOT": str(self.server.root), "GIT_HTTP_EXPORT_ALL": "1", "REMOTE_USER": "x-access-token",
               "REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body))}
        for header, variable in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
            if self.headers.get(header):
                env[variable] = self.headers[header]
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def _git_server(root: Path, token: str) -> Iterator[_GitServer]:
    server = _GitServer(root, token)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _bsd_like_tools(folder: Path) -> Path:
    """Stand-ins for cp, mkdir and xargs that refuse GNU-only options, which a Mac runner's BSD tools
    lack (long options such as cp --parents, cp -t, xargs -r); else they run the real command."""
    folder.mkdir()
    for name, gnu_only in (("cp", "|-t"), ("mkdir", ""), ("xargs", "|-r")):
        real = shutil.which(name)
        assert real, name
        (folder / name).write_text(f"""#!/bin/sh
for arg in "$@"; do
  case "$arg" in
    --) break ;;
    --*{gnu_only}) echo "{name}: illegal option -- $arg (GNU only)" >&2; exit 64 ;;
    -*) ;;
    *) break ;;
  esac
done
exec "{real}" "$@"
""")
        (folder / name).chmod(0o755)
    return folder


@pytest.mark.usefixtures("subprocesses")
def test_push_step_rebases_onto_another_machines_results(workflow: dict[str, Any], tmp_path: Path) -> None:
    """Two machines benchmark at once; the other pushes first. Both rewrote the index: the push
    step rebases, rebuilds the index from both runs' files, and pushes.

    The results repository wants the token for every request (a private one), and the checkout
    kept no credentials: the step's token reaches git for the fetch and the push, and is written
    nowhere. Its tools are BSD's, as on a Mac."""
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
    spaced = ours.with_name("a note, with spaces.txt")  # the artifact's copy loop quotes names
    spaced.write_text("note\n")
    _store_run(beta, "beta")
    _git("add", "-A", cwd=beta / "results")
    _git("commit", "-q", "-m", "beta", cwd=beta / "results")
    _git("push", "-q", "origin", "HEAD:main", cwd=beta / "results")

    step = _step(workflow, "push")
    output = tmp_path / "github-output"
    home = tmp_path / "home"  # where a credential store would write the token
    home.mkdir()
    token = "ghs_" + secrets.token_hex(16)
    bsd = _bsd_like_tools(tmp_path / "bsd")
    env = {**_with_values(_job(workflow)["env"], _dispatch_values("alpha", CPYTHON_REF="v3.13.5")),
           **_with_values(step.get("env"), {"RESULTS_TOKEN": token}), "GITHUB_OUTPUT": str(output),
           "HOME": str(home), "GIT_TERMINAL_PROMPT": "0",
           "PATH": os.pathsep.join([str(bsd), os.path.dirname(sys.executable), os.environ["PATH"]])}
    with _git_server(tmp_path, token) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/results.git"
        _git("remote", "set-url", "origin", url, cwd=alpha / "results")
        done = _bash_step(step["run"], alpha, env)
        assert done.returncode == 0, done.stderr
        assert "push rejected (attempt 1)" in done.stdout, "the other machine's push was not seen"
        # Asked with the token: the fetch of the rebase, and the push.
        assert ("/results.git/git-upload-pack", True) in server.requests, server.requests
        assert ("/results.git/git-receive-pack", True) in server.requests, server.requests
        again = _bash_step(step["run"], alpha, env)  # nothing new: no empty commit
    assert token not in done.stdout + done.stderr + again.stdout + again.stderr
    for folder in (alpha, home):
        for path in folder.rglob("*"):
            assert not path.is_file() or token.encode() not in path.read_bytes(), f"the token is in {path}"

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
    assert (alpha / "report" / spaced.relative_to(alpha / "results")).read_text() == "note\n"
    assert not list((alpha / "report").glob("**/*beta*"))

    assert again.returncode == 0 and "no new results to push" in again.stdout
    assert _git("rev-parse", "main", cwd=remote) == pushed


@pytest.mark.usefixtures("subprocesses")
def test_comment_step_links_the_results_repository(workflow: dict[str, Any], tmp_path: Path) -> None:
    """The plugin's comment links pages relative to the report folder; on the pull request they
    must point into the results repository."""
    stub, workspace = _recording_command(tmp_path, "gh")
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


# --- the nightly run --------------------------------------------------------------------------------


def test_the_nightly_run_backfills_then_confirms_the_history(workflow: dict[str, Any]) -> None:
    """Scheduled: no gate; backfill the branch's new commits, then `history --confirm`, whose exit 1
    (a confirmed regression) fails the job while the results are still pushed and published."""
    (schedule,) = workflow["on"]["schedule"]
    assert re.fullmatch(r"\d+ \d+ \* \* \*", schedule["cron"]), "once a night"
    assert _step(workflow, "bench")["if"] == "${{ github.event_name != 'schedule' }}"
    backfill, history = _step(workflow, "backfill"), _step(workflow, "history")
    assert "github.event_name == 'schedule'" in backfill["if"] and "!cancelled()" in backfill["if"]
    assert "steps.backfill.outcome != 'skipped'" in history["if"] and "continue-on-error" not in history
    steps = _job(workflow)["steps"]
    names = [step.get("id") for step in steps]
    assert names.index("bench") < names.index("backfill") < names.index("history") < names.index("push")
    for step_id in ("push",):
        assert "steps.backfill.outcome != 'skipped'" in _step(workflow, step_id)["if"]
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact"))
    assert "steps.backfill.outcome != 'skipped'" in upload["if"]
    # The nightly's ref is the branch, the same commits every night: --every counts from the start.
    env = _job(workflow)["env"]
    assert "vars.NIGHTLY_BRANCH" in env["CPYTHON_REF"] and "vars.NIGHTLY_SINCE" in env["NIGHTLY_SINCE"]
    assert "history" in _step(workflow, "install")["env"]["CPYBENCH_PACKAGE"], "history needs the extra"


@pytest.mark.usefixtures("subprocesses")
def test_the_nightly_scripts_pass_each_value_as_one_argument(workflow: dict[str, Any], tmp_path: Path) -> None:
    stub, workspace = _recording_command(tmp_path, "python")
    runner = _runners(workflow)[0]
    hostile = 'main"; touch pwned; echo "'
    base = {**_with_values(_job(workflow)["env"], _dispatch_values(runner, CPYTHON_REF=hostile, NIGHTLY_EVERY="10")),
            "ARGV_FILE": str(tmp_path / "argv"), "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}"}
    argv = _argv_of(_bash_step(_step(workflow, "backfill")["run"], workspace, base), tmp_path / "argv")
    assert not (workspace / "pwned").exists()
    assert argv[:3] == ["-m", "pytest_cpybench", "backfill"]
    assert {f"--range=v3.14.0..{hostile}", "--every=10", f"--machine={runner}", "--results-dir=results/results",
            "--build=release"} <= set(argv)
    assert not [arg for arg in argv if arg.startswith("--benchmarks")]
    env = {**base, "CPYTHON_BENCHMARKS": "deepcopy,nbody"}
    argv = _argv_of(_bash_step(_step(workflow, "history")["run"], workspace, env), tmp_path / "argv")
    assert argv[:3] == ["-m", "pytest_cpybench", "history"]
    assert {f"--branch={hostile}", f"--machine={runner}", "--results-dir=results/results",
            f"--output=results/history/{runner}", "--confirm", "--benchmarks=deepcopy,nbody"} <= set(argv)


def test_the_nightly_commands_take_these_arguments() -> None:
    """The scripts' options are the commands' own (argparse would refuse others at night)."""
    from pytest_cpybench.cli import _parser

    parser = _parser()
    parser.parse_args(["backfill", "--repo=R", "--range=A..B", "--every=1", "--build=release", "--machine=m",
                       "--results-dir=results/results", "--benchmarks=deepcopy"])
    parser.parse_args(["history", "--repo=R", "--branch=main", "--build=release", "--machine=m",
                       "--results-dir=results/results", "--output=results/history/m", "--confirm",
                       "--benchmarks=deepcopy"])
