"""Suite-wide rules: isolated logging, one way to need a real tool, and no silent skips under CI.

- Logging configured by one test (the CLI calls configure_logging) never leaks into the next.
- `tool(name)` finds a real binary (promtool, prometheus, rabbitmq-server); when it is missing the
  test is skipped on a developer machine and FAILS under CI=true (scripts/system-deps.sh installs
  them; tests never install system packages themselves).
- Under CI=true a session with a skipped test fails, unless the skip reason is in
  `SKIPS_ALLOWED_UNDER_CI` (each entry says why it may skip there). Every skip in tests/ goes
  through `tool`, so in CI a missing tool is a failure twice over: in the test and in the session.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

IMAGE_ONLY = "comes only with the machine image"
"""Part of the skip reason of a tool no registry CI can install from (see `find_tool`'s ``image_only``)."""

SKIPS_ALLOWED_UNDER_CI: dict[str, str] = {
    # "<substring of the skip reason>": "why this test may skip even in CI",
    # CI installs every other tool (scripts/system-deps.sh), so nothing else may skip there.
    IMAGE_ONLY: (
        "kubectl (its built-in kustomize renders deploy/kubernetes) is in the machine image but in no "
        "registry CI reaches (Debian's kubernetes-client is too old to render `patches`)"
    ),
}

_skips: list[tuple[str, str]] = []
"""(node id, reason) of every skip in this session (one session per process)."""


def under_ci() -> bool:
    """True when the CI environment variable is set to a true value (CI=true, as CI systems set it)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}


def find_tool(name: str, *candidates: Path, image_only: bool = False) -> str:
    """The path of a real binary: on PATH, else the first existing candidate; skips or fails when missing.

    ``image_only`` marks a tool that scripts/system-deps.sh cannot install: it skips, even under CI,
    with a reason `SKIPS_ALLOWED_UNDER_CI` admits.
    """
    found = shutil.which(name) or next((str(path) for path in candidates if path.exists()), None)
    if found is not None:
        return found
    if image_only:
        pytest.skip(f"{name} is not installed; it {IMAGE_ONLY}")
    hint = "scripts/system-deps.sh (make system-deps) installs it"
    if under_ci():
        pytest.fail(f"{name} is not installed under CI=true; {hint}", pytrace=False)
    pytest.skip(f"{name} is not installed; {hint}")


@pytest.fixture(scope="session")
def tool() -> Callable[..., str]:
    """`tool(name, *candidate_paths, image_only=False)`: the binary's path (see `find_tool`)."""
    return find_tool


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _record_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    # An xfail is reported as "skipped" too; it is an expected failure, not a skip.
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.append((report.nodeid, _skip_reason(report)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _record_skip(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _record_skip(report)


def _forbidden_skips() -> list[tuple[str, str]]:
    if not under_ci():
        return []
    return [
        (nodeid, reason)
        for nodeid, reason in _skips
        if not any(allowed in reason for allowed in SKIPS_ALLOWED_UNDER_CI)
    ]


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _forbidden_skips() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    forbidden = _forbidden_skips()
    if not forbidden:
        return
    terminalreporter.section("skips are failures under CI=true", red=True)
    for nodeid, reason in forbidden:
        terminalreporter.line(f"SKIPPED {nodeid}: {reason}")
    terminalreporter.line(
        "install the missing tool (scripts/system-deps.sh) or allow the reason in tests/conftest.py"
    )
