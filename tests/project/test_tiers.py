"""The test suite's tiers (tests/support/tiers.py), in a pytest run of their own: a test's fixtures
give its tier, a unit test cannot start a process (not in a fixture it makes either, nor where the
code under test swallows the error), and a tier cannot be given by hand."""

from __future__ import annotations

import pytest

CONFTEST = """
import pytest

pytest_plugins = ["tiers"]


@pytest.fixture(scope="session")
def repo():
    return "a stand-in for the test CPython repository"


@pytest.fixture(scope="module")
def listing():
    import subprocess
    return subprocess.run(["true"]).returncode
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_tiers_example="""
        import subprocess

        import pytest


        def test_pure():
            assert sum([1, 2]) == 3


        def test_pure_but_starts_git():
            subprocess.run(["git", "--version"], capture_output=True)


        def test_swallows_the_error():
            try:
                subprocess.run(["true"])
            except Exception:
                pass


        def test_a_unit_fixture_starts_one(listing):
            pass


        @pytest.mark.usefixtures("subprocesses")
        def test_starts_true():
            assert subprocess.run(["true"]).returncode == 0


        def test_on_the_repository(repo):
            assert subprocess.run(["true"]).returncode == 0
    """)
    return pytester


def test_a_tests_fixtures_give_its_tier(suite: pytest.Pytester) -> None:
    for tier, expected in (("unit", ["test_pure", "test_pure_but_starts_git", "test_swallows_the_error",
                                     "test_a_unit_fixture_starts_one"]),
                           ("integration", ["test_starts_true"]), ("e2e", ["test_on_the_repository"])):
        done = suite.runpytest("-p", "no:cacheprovider", "--co", "-q", "-m", tier)
        assert [line.split("::")[1] for line in done.outlines if "::" in line] == expected, tier


def test_a_unit_test_that_starts_a_process_fails_and_says_what_to_request(suite: pytest.Pytester) -> None:
    done = suite.runpytest("-p", "no:cacheprovider", "-m", "unit", "-rfE")
    done.assert_outcomes(passed=2, failed=1, errors=2)  # a caught start: passed, then an error
    out = done.stdout.str()
    assert "a unit test started a process (subprocess.Popen: ['git', '--version'])" in out
    assert "request the `subprocesses` fixture" in out
    # Caught by the code under test: it fails all the same, at teardown.
    assert "ERROR test_tiers_example.py::test_swallows_the_error" in out
    # Started by a module-scoped fixture the unit test makes.
    assert "ERROR test_tiers_example.py::test_a_unit_fixture_starts_one" in out


def test_the_tiers_run_unit_first_and_the_summary_times_each(suite: pytest.Pytester) -> None:
    done = suite.runpytest("-p", "no:cacheprovider", "-v", "-k", "pure or true or repository")
    ran = [line.split("::")[1].split()[0] for line in done.outlines if line.startswith("test_tiers_example.py::")]
    assert ran == ["test_pure", "test_pure_but_starts_git", "test_starts_true", "test_on_the_repository"]
    assert any(line.startswith("tiers: unit 2 tests in ") and ", integration 1 tests in " in line
               and ", e2e 1 tests in " in line for line in done.outlines), done.outlines


def test_a_tier_given_by_hand_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["tiers"]\n')
    pytester.makepyfile(test_by_hand="""
        import pytest

        @pytest.mark.unit
        def test_it():
            pass
    """)
    done = pytester.runpytest("-p", "no:cacheprovider")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    assert "a test's tier comes from the fixtures it uses, not from a mark" in done.stderr.str()
    assert "test_by_hand.py::test_it: marked 'unit'" in done.stderr.str()


def test_the_slow_mark_does_not_exist_and_says_so(suite: pytest.Pytester) -> None:
    done = suite.runpytest("-p", "no:cacheprovider", "-m", "not slow")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    assert "there is no slow mark" in done.stderr.str()
