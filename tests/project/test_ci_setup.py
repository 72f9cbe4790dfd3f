"""The machine setup the end-to-end tests need lives in .ci/run, not in the tests.

.ci/run adds a deb-src entry derived from the machine's own apt sources; the test repository
(tests/support/cpython_repo.py) only downloads, and says what to do when apt has no such entry.
Nothing here changes the machine: apt is pointed at empty folders, the entry is written to tmp_path.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cpython_repo
import pytest

pytestmark = pytest.mark.usefixtures("subprocesses")  # every test here starts processes

CI_RUN = Path(__file__).resolve().parents[2] / ".ci" / "run"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def _write_entry(etc: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """Run the step of .ci/run that writes the deb-src entry, for the apt configuration in ``etc``."""
    return subprocess.run(["bash", str(CI_RUN), "write-deb-src-entry", str(etc), str(target)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def _entry(uri: str) -> str:
    return (f"Types: deb-src\nURIs: {uri}\nSuites: bookworm trixie\nComponents: main\n"
            f"Signed-By: {KEYRING}\n")


def test_deb_src_entry_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "etc" / "sources.list.d").mkdir(parents=True)
    (tmp_path / "etc" / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://archive.example/debian http://other.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://archive.example/debian-security\nSuites: bookworm-security\n")
    target = tmp_path / "test-src.sources"
    done = _write_entry(tmp_path / "etc", target)
    assert done.returncode == 0, done.stderr
    assert target.read_text() == _entry("http://archive.example/debian")
    assert f"wrote {target}" in done.stdout
    again = _write_entry(tmp_path / "etc", target)  # already there: nothing written
    assert again.returncode == 0 and again.stdout == ""
    assert target.read_text() == _entry("http://archive.example/debian")


def test_deb_src_entry_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://archive.example/debian bookworm main\n"
        "deb http://later.example/debian bookworm main\n")
    target = tmp_path / "test-src.sources"
    done = _write_entry(tmp_path / "etc", target)
    assert done.returncode == 0, done.stderr
    assert target.read_text() == _entry("http://archive.example/debian")


def test_no_debian_archive_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    target = tmp_path / "test-src.sources"
    done = _write_entry(tmp_path / "etc", target)
    assert done.returncode != 0
    assert "no Debian archive found in the apt sources" in done.stderr
    assert not target.exists()


@pytest.mark.skipif(not shutil.which("apt-get"), reason="needs apt-get")
def test_missing_deb_src_entry_is_a_one_line_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # apt with no sources at all, in empty folders of its own (APT_CONFIG): as on a machine
    # where `bash .ci/run` never ran.
    for folder in ("parts", "lists/partial", "cache/archives/partial"):
        (tmp_path / "apt" / folder).mkdir(parents=True)
    config = tmp_path / "apt" / "apt.conf"
    config.write_text(f'Dir::Etc::SourceList "/dev/null";\nDir::Etc::SourceParts "{tmp_path}/apt/parts";\n'
                      f'Dir::State::Lists "{tmp_path}/apt/lists";\nDir::Cache "{tmp_path}/apt/cache";\n')
    monkeypatch.setenv("APT_CONFIG", str(config))
    release = cpython_repo.RELEASES[-1]
    with pytest.raises(SystemExit) as exc:
        cpython_repo.tarball(release, tmp_path / "downloads")
    message = str(exc.value.code)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"cannot download {release.package}: apt has no deb-src entry")
    assert "bash .ci/run" in message and "CPYBENCH_TEST_CPYTHON_REPO" in message
