"""Virtual environments that run the benchmarks under a target interpreter.

One venv per target interpreter build and per pyperformance/pyperf version, kept under
``<cache_dir>/venvs/<key>``. Venvs are not relocatable, so a venv is built at its final path
under a file lock and counts as ready only once its ``.complete`` marker exists (written
last); a folder without the marker is a crashed or interrupted build and is rebuilt.

Benchmark requirements go into the same venv, once each (a marker keyed by the hash of the
requirements). Unlike pyperformance, pip runs with the user's environment, so an index URL,
proxy or pip.conf that works for the user works here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pyperf

from pytest_cpybench import locks
from pytest_cpybench.errors import BenchmarkError, CpybenchError
from pytest_cpybench.results import files
from pytest_cpybench.suite import _pyperformance
from pytest_cpybench.suite.definitions import BenchmarkDef

Log = Callable[[str], None]

# Bump when the way a venv is populated changes, so old venvs are not reused.
VENV_LAYOUT = "2"  # 2: setuptools and wheel installed, as pyperformance does
INSTALLER_REQUIREMENTS = ("setuptools", "wheel")
COMPLETE_MARKER = ".complete"
STATE_DIR = ".cpybench"  # inside a venv: install markers, pins, pip logs, the install lock

# Variables that point an interpreter at the host's own modules: a target interpreter of
# another version must not import them.
HOST_ONLY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__")

# A pip install that has not finished in this long is stuck (network, a build that hangs).
PIP_TIMEOUT = 30 * 60
OUTPUT_TAIL_LINES = 15

_PROBE = (
    "import json, sys; print(json.dumps({'version': sys.version, "
    "'cache_tag': sys.implementation.cache_tag or sys.implementation.name, "
    "'abiflags': getattr(sys, 'abiflags', ''), 'executable': sys.executable}))"
)
_IMPORTS_PYPERFORMANCE = re.compile(r"^\s*(?:from|import)\s+pyperformance\b", re.MULTILINE)


def pyperf_requirement() -> str:
    """The pyperf the venvs get: the host's own version, so results files agree."""
    return f"pyperf=={pyperf.__version__}"


def target_environ(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to run a target interpreter in: the user's (pip configuration,
    proxies, LD_LIBRARY_PATH …) without the host's module paths, plus ``env``."""
    environ = {name: value for name, value in os.environ.items() if name not in HOST_ONLY_VARIABLES}
    environ.update(env or {})
    return environ


def venv_python_path(root: Path) -> Path:
    if os.name == "nt":
        return root / "Scripts" / "python.exe"
    return root / "bin" / "python"


def venv_dir(
    python: Path, cache_dir: Path, *, key: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[Path, Path]:
    """The venv folder for ``python`` and the real binary behind it.

    The folder name is a readable prefix plus a hash of the interpreter's identity: its real
    path, its ``sys.version`` and either ``key`` (a build key from the caller) or the binary's
    mtime, inode and size, so a rebuild at the same path gets a fresh venv; plus the
    pyperformance and pyperf versions installed.
    """
    executable, info = _resolve_target(python, env)
    return Path(cache_dir) / "venvs" / _key_for(executable, info, key), executable


def _key_for(executable: Path, info: Mapping[str, str], key: str | None) -> str:
    if key is None:
        stat = os.stat(executable)
        key = f"{stat.st_mtime_ns}:{stat.st_ino}:{stat.st_size}"
    identity = [
        VENV_LAYOUT,
        str(executable),
        info["version"],
        key,
        _pyperformance.pyperformance_version(),
        pyperf.__version__,
    ]
    digest = hashlib.sha256("\0".join(identity).encode()).hexdigest()[:16]
    return f"{info['cache_tag']}{info['abiflags']}-{digest}"


def ensure_venv(
    python: Path,
    cache_dir: Path,
    *,
    key: str | None = None,
    env: Mapping[str, str] | None = None,
    log: Log = print,
) -> Path:
    """The python of a ready venv for the target interpreter ``python`` (created if needed)."""
    root, executable = venv_dir(python, cache_dir, key=key, env=env)
    venv_python = venv_python_path(root)
    if (root / COMPLETE_MARKER).is_file():
        return venv_python
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f"{root.name}.lock"
    with locks.exclusive(lock_path, purpose=f"creating the venv {root.name}",
                         waiting_for=f"another process creating the venv {root}",
                         timeout=locks.VENV_WAIT, log=log):
        if (root / COMPLETE_MARKER).is_file():
            return venv_python
        if root.exists():
            log(f"removing the incomplete venv {root}")
            shutil.rmtree(root)
        started = time.monotonic()
        log(f"creating the benchmark venv {root} for {python}")
        try:
            _create(executable, root, target_environ(env), log)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        log(f"venv ready in {time.monotonic() - started:.1f} s")
    return venv_python


def install_requirements(
    venv_python: Path,
    bench: BenchmarkDef,
    *,
    env: Mapping[str, str] | None = None,
    log: Log = print,
) -> None:
    """Install what ``bench`` needs into the venv, once per venv.

    That is its requirements file and, for run scripts that import pyperformance (hg_startup
    does), pyperformance itself. Two processes installing into one venv take turns.
    """
    root = _venv_root(Path(venv_python))
    extra = _extra_requirements(bench)
    if bench.requirements_file is None and not extra:
        return
    requirements_text = (
        Path(bench.requirements_file).read_text("utf-8") if bench.requirements_file else ""
    )
    marker_key = hashlib.sha256("\0".join([requirements_text, *extra]).encode()).hexdigest()[:16]
    state = root / STATE_DIR
    marker = state / f"requirements-{marker_key}.done"
    if marker.is_file():
        return
    state.mkdir(exist_ok=True)
    with locks.exclusive(state / "install.lock", purpose=f"installing {bench.name}'s requirements",
                         waiting_for=f"another install into {root}",
                         timeout=locks.VENV_WAIT, log=log):
        if marker.is_file():
            return
        pins = _pins(requirements_text)
        _check_pins(state / "pins.json", bench.name, pins)
        command = [
            str(venv_python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ]
        if bench.requirements_file:
            command += ["-r", bench.requirements_file]
        command += extra
        log(f"installing the requirements of {bench.name}")
        # Relative paths in a requirements file are relative to the working directory.
        cwd = os.path.dirname(bench.requirements_file or bench.runscript)
        returncode, output = _run(command, target_environ(env), cwd=cwd)
        pip_log = state / f"pip-{bench.name}.log"
        pip_log.write_text(output, "utf-8")
        if returncode != 0:
            raise _install_error(f"could not install requirements of {bench.name}", output, pip_log)
        _record_pins(state / "pins.json", bench.name, pins)
        files.write_text_atomically(marker, json.dumps({"benchmark": bench.name, "requirements": extra}))


#######################################
# creation


def _create(python: Path, root: Path, environ: dict[str, str], log: Log) -> None:
    returncode, output = _run([str(python), "-m", "venv", str(root)], environ)
    if returncode != 0:
        raise _install_error(f"could not create a venv with {python}", output, None)
    venv_python = venv_python_path(root)
    requirement = pyperf_requirement()
    log(f"installing {requirement} into the venv")
    pip = [str(venv_python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    returncode, output = _run([*pip, requirement], environ)
    if returncode != 0:
        # pyperf needs psutil only for extra system metadata; a new or free-threaded
        # CPython may have no psutil wheel and no way to build one. Run without it.
        log(f"installing {requirement} with psutil failed; retrying without its dependencies")
        returncode, output = _run([*pip, "--no-deps", requirement], environ)
        if returncode != 0:
            raise _install_error(f"could not install {requirement} into {root}", output, None)
    # As pyperformance's venvs (its _pip.ensure_installer): benchmarks whose requirements still
    # import distutils (django_template, sympy on 3.12+) find it in setuptools.
    returncode, output = _run([*pip, "--upgrade", *INSTALLER_REQUIREMENTS], environ)
    if returncode != 0:
        log(f"installing {' '.join(INSTALLER_REQUIREMENTS)} into the venv failed (benchmarks that import "
            f"distutils will fail): {_last_line(output)}")
    info = {
        "python": str(python),
        "pyperf": pyperf.__version__,
        "pyperformance": _pyperformance.pyperformance_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (root / STATE_DIR).mkdir(exist_ok=True)
    files.write_text_atomically(root / COMPLETE_MARKER, json.dumps(info, indent=2) + "\n")


def _checked_interpreter(python: Path) -> Path:
    candidate = Path(python).expanduser()
    if not candidate.is_absolute() and candidate.parent == Path("."):
        found = shutil.which(str(candidate))
        candidate = Path(found) if found else candidate
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise CpybenchError(f"interpreter {python} does not exist or is not executable")
    return candidate.resolve()


def _resolve_target(python: Path, env: Mapping[str, str] | None) -> tuple[Path, dict[str, str]]:
    """The real binary behind ``python`` (a symlink, a venv's python, a pyenv shim) and
    what it says about itself."""
    info = _probe(_checked_interpreter(python), env)
    return Path(os.path.realpath(info["executable"])), info


def _probe(executable: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    return json.loads(query_interpreter(executable, _PROBE, env))


def query_interpreter(executable: Path, script: str, env: Mapping[str, str] | None = None) -> str:
    """What ``executable -c script`` prints, or a one-line CpybenchError saying why it could not run."""
    try:
        completed = subprocess.run(
            [str(executable), "-c", script],
            env=target_environ(env),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CpybenchError(f"cannot run the interpreter {executable}: {exc}") from None
    if completed.returncode != 0 or not completed.stdout.strip():
        last = _last_line(completed.stderr) or f"exit {completed.returncode}"
        raise CpybenchError(f"cannot run the interpreter {executable}: {last}")
    return completed.stdout.strip()


def interpreter_version(python: Path, *, env: Mapping[str, str] | None = None) -> str:
    """The interpreter's version in PEP 440 form ("3.13.5", "3.14.0a1"): the one probe used for
    targets, builds and file names."""
    script = (
        "import sys; v = sys.version_info; "
        "tag = {'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}.get(v.releaselevel); "
        "print(f'{v.major}.{v.minor}.{v.micro}' + (f'{tag}{v.serial}' if tag else ''))"
    )
    return query_interpreter(python, script, env)


def _venv_root(venv_python: Path) -> Path:
    root = venv_python.parent.parent  # not resolved: the venv's python links to the target
    if not (root / "pyvenv.cfg").is_file():
        raise CpybenchError(f"{venv_python} is not the python of a venv (no pyvenv.cfg in {root})")
    return root


#######################################
# requirements


def _extra_requirements(bench: BenchmarkDef) -> list[str]:
    script = Path(bench.runscript).read_text("utf-8", errors="replace")
    if _IMPORTS_PYPERFORMANCE.search(script):
        return [f"pyperformance=={_pyperformance.pyperformance_version()}"]
    return []


def _pins(requirements_text: str) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by normalized name."""
    pins = {}
    for line in requirements_text.splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        name, sep, version = requirement.partition("==")
        name = name.split("[", 1)[0].strip()  # drop extras: dask[distributed]
        if sep and name and not name.startswith("-"):
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def _check_pins(pins_file: Path, bench_name: str, pins: dict[str, str]) -> None:
    # One venv serves every benchmark: a second benchmark pinning another version of a
    # package would silently change what the first one measures.
    installed = json.loads(pins_file.read_text("utf-8")) if pins_file.is_file() else {}
    for name, version in sorted(pins.items()):
        known = installed.get(name)
        if known and known["version"] != version:
            raise BenchmarkError(
                f"could not install requirements of {bench_name}: it pins {name}=={version} "
                f"but {known['benchmark']} pins {name}=={known['version']} in the same venv"
            )


def _record_pins(pins_file: Path, bench_name: str, pins: dict[str, str]) -> None:
    installed = json.loads(pins_file.read_text("utf-8")) if pins_file.is_file() else {}
    for name, version in pins.items():
        installed.setdefault(name, {"version": version, "benchmark": bench_name})
    files.write_text_atomically(pins_file, json.dumps(installed, indent=1, sort_keys=True))


#######################################
# helpers


def _run(
    command: Sequence[str], environ: dict[str, str], *, cwd: str | None = None
) -> tuple[int, str]:
    try:
        completed = subprocess.run(
            list(command),
            env=environ,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=PIP_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        output = (
            exc.output
            if isinstance(exc.output, str)
            else (exc.output or b"").decode("utf-8", "replace")
        )
        return -1, f"{output}\ntimed out after {PIP_TIMEOUT} s: {' '.join(command)}"
    except OSError as exc:
        return -1, f"cannot run {command[0]}: {exc}"
    return completed.returncode, completed.stdout


def _install_error(message: str, output: str, log_path: Path | None) -> BenchmarkError:
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    reason = (errors or lines or ["no output"])[-1].strip()
    err = BenchmarkError(f"{message}: {reason}")
    err.output_tail = "\n".join(lines[-OUTPUT_TAIL_LINES:])
    err.log_path = log_path
    return err


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""




#######################################
# what a venv holds


def installed_packages(venv_python: Path) -> dict[str, str]:
    """The distributions installed in a venv, name -> version, a version followed by " (compiled)"
    when the distribution installed compiled extension modules (a wheel built for the platform, not
    pure Python): what two sides' benchmark environments may differ by. Read from the venv's
    ``*.dist-info`` folders (their METADATA and RECORD), without running it."""
    found: dict[str, str] = {}
    root = _venv_root(Path(venv_python))
    for info in sorted(root.glob("lib*/python*/site-packages/*.dist-info")):
        name = version = ""
        try:
            for line in (info / "METADATA").read_text("utf-8", errors="replace").splitlines():
                if line.startswith("Name: "):
                    name = line[6:].strip()
                elif line.startswith("Version: "):
                    version = line[9:].strip()
                elif not line:
                    break
            record = (info / "RECORD").read_text("utf-8", errors="replace") if (info / "RECORD").is_file() else ""
        except OSError:
            continue
        if not name:
            continue
        compiled = any(row.split(",", 1)[0].endswith((".so", ".pyd")) for row in record.splitlines())
        found[re.sub(r"[-_.]+", "-", name).lower()] = version + (" (compiled)" if compiled else "")
    return found


def benchmark_packages(venv_python: Path, bench: BenchmarkDef) -> dict[str, str]:
    """:func:`installed_packages` that ``bench`` runs with: those its requirements file names, pyperf
    and pyperformance (one venv serves every benchmark of an interpreter: the others' packages do not
    take part)."""
    text = Path(bench.requirements_file).read_text("utf-8") if bench.requirements_file else ""
    names = set(_pins(text)) | {_requirement_name(line) for line in text.splitlines()} | {"pyperf", "pyperformance"}
    return {name: version for name, version in installed_packages(venv_python).items()
            if re.sub(r"[-_.]+", "-", name) in names}


def _requirement_name(line: str) -> str:
    name = re.split(r"[\s<>=!~;\[#]", line.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()
