"""The suite's own rules (tests/conftest.py): under CI=true a skip fails the session; tests install nothing.

Each case runs a small pytest session in a subprocess with a copy of tests/conftest.py, so the
hooks are exercised exactly as the real suite runs them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SKIPPING_TESTS = """
import pytest

def test_runs():
    pass

def test_needs_a_tool(tool):
    tool("gse-no-such-binary-anywhere")

def test_skips_itself():
    pytest.skip("a reason nobody allowed")
"""

PASSING_TESTS = """
import pytest

def test_runs():
    pass

@pytest.mark.xfail(reason="expected")
def test_expected_failure():
    raise AssertionError
"""


def run_session(tmp_path: Path, tests: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_sample.py").write_text(tests)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider -ra\n")
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS"}}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(  # noqa: S603 - our own interpreter and a generated test dir
        [sys.executable, "-m", "pytest", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("ci", "exit_code"),
    [
        pytest.param(None, 0, id="developer-machine"),
        pytest.param("false", 0, id="ci-false"),
        pytest.param("true", 1, id="ci-true"),
    ],
)
def test_skips_fail_the_session_only_under_ci(tmp_path: Path, ci: str | None, exit_code: int) -> None:
    """A missing tool or an explicit skip passes locally, but fails the test and the session under CI=true."""
    result = run_session(tmp_path, SKIPPING_TESTS, ci)
    assert result.returncode == exit_code, result.stdout + result.stderr
    if ci == "true":
        assert "gse-no-such-binary-anywhere is not installed under CI=true" in result.stdout
        assert "skips are failures under CI=true" in result.stdout
        assert "test_sample.py::test_skips_itself: a reason nobody allowed" in result.stdout
    else:
        assert "2 skipped" in result.stdout


def test_a_session_without_skips_passes_under_ci(tmp_path: Path) -> None:
    """Under CI=true a session with only passes and an expected failure (xfail) still exits 0."""
    result = run_session(tmp_path, PASSING_TESTS, "true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skips are failures" not in result.stdout


def test_no_test_fixture_installs_system_packages() -> None:
    """Only scripts/system-deps.sh installs packages: no file under tests/ runs apt-get or pip install."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("*.py")
        if path != Path(__file__) and any(word in path.read_text() for word in ("apt-get", "pip install"))
    ]
    assert offenders == []


IMAGE_ONLY_TESTS = """
def test_needs_an_image_tool(tool):
    tool("gse-no-such-image-binary", image_only=True)
"""


def test_a_missing_image_only_tool_skips_even_under_ci(tmp_path: Path) -> None:
    """A tool no registry ships (kubectl) skips under CI=true with an allowed reason; the session passes."""
    result = run_session(tmp_path, IMAGE_ONLY_TESTS, "true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "gse-no-such-image-binary is not installed; it comes only with the machine image" in result.stdout
