"""The ``history`` command line: exit codes, the summary it prints, --dry-run and its refusals.

The simulator runs on its own event loop in a thread (the command runs its own with asyncio.run); its
world is set in the present because the command reads the real clock for the one-year limit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from github_stats_exporter import cli
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec

pytestmark = pytest.mark.e2e

DAY = 86400
TOKEN = "ghp_history_cli"
START = float(int(time.time() // DAY) * DAY + 3600)
LAST = datetime.fromtimestamp(START, UTC).date() - timedelta(days=2)
FIRST = LAST - timedelta(days=4)


@dataclass
class Running:
    sim: Simulator
    config: Path
    loop: asyncio.AbstractEventLoop


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    spec = WorldSpec(
        seed=5,
        orgs=(OrgSpec("acme", repos=2, users=8, special_repos=False),),
        start=START,
        history_days=10,
        commits_per_day=2.0,
        prs_per_day=1.0,
    )
    loop = asyncio.new_event_loop()
    sim = Simulator(spec, clock=SimClock(frozen_at=START))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(sim.__aenter__(), loop).result(10)
    try:
        sim.add_token(TOKEN, ["acme"])
        (tmp_path / "token").write_text(TOKEN)
        config = tmp_path / "config.yaml"
        config.write_text(
            "server: {log_level: warning}\n"
            f"github: {{api_base_url: '{sim.api_url}', orgs: [{{org: acme, token_file: '{tmp_path / 'token'}'}}]}}\n"
            "retry: {max_attempts: 1}\n"
            "copilot: {enabled: true, include_org_users_28d: true}\n"
        )
        yield Running(sim, config, loop)
    finally:
        asyncio.run_coroutine_threadsafe(sim.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _history(running: Running, *args: str) -> int:
    span = ["--from", FIRST.isoformat(), "--to", LAST.isoformat()]
    return cli.main(["history", "--config", str(running.config), *span, *args])


def test_a_complete_run_exits_0_and_prints_the_summary(
    running: Running, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every day read: exit 0, the file written, and a summary of days, report-days, requests and samples."""
    assert _history(running, "--output", str(tmp_path / "h.om")) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "history: 5 day(s), 10 report-day(s)" in out
    assert "2 repositories" in out
    assert f"wrote {tmp_path / 'h.om'}" in out
    assert (tmp_path / "h.om").read_text().endswith("# EOF\n")


def test_a_failed_day_exits_1_and_names_it(
    running: Running, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A report that keeps failing: exit 1, the task named, the rest of the file still written."""
    running.sim.faults.add(FaultRule(endpoint=rf"organization-1-day\?day={LAST}", status=500))
    assert _history(running, "--output", str(tmp_path / "h.om")) == cli.EXIT_SOURCE_FAILED
    err = capsys.readouterr().err
    assert "1 task(s) failed" in err
    assert f"copilot-org-acme-organization-{LAST}" in err
    assert (tmp_path / "h.om").exists()


def test_dry_run_prints_requests_and_budget_without_reading_reports(
    running: Running, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run prints requests per report and per installation and asks for no report."""
    assert _history(running, "--output", str(tmp_path / "h.om"), "--dry-run") == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "acme organization: 5 request(s)" in out
    assert "acme users: 5 request(s)" in out
    assert "acme loc: 3 request(s)" in out
    assert "org/acme: 13 request(s)" in out
    assert running.sim.stats.total("copilot_report_link") == 0
    assert not (tmp_path / "h.om").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--tsdb", "blocks"], "needs promtool on the PATH", id="tsdb-without-promtool"),
        pytest.param(["--no-loc"], "belongs to another history plan", id="state-of-another-plan"),
    ],
)
def test_refusals_exit_2_with_a_clear_message(
    running: Running,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    """No promtool for --tsdb, or a state directory made for another plan: exit 2 before any work."""
    (tmp_path / "h.om.state").mkdir()
    (tmp_path / "h.om.state" / "plan.json").write_text("{}")
    if "--tsdb" in args:
        monkeypatch.setenv("PATH", "")
    assert _history(running, "--output", str(tmp_path / "h.om"), *args) == cli.EXIT_BAD_CONFIG
    assert message in capsys.readouterr().err
    assert running.sim.stats.total("copilot_report_link") == 0


def test_a_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid config file is reported like check-config does, with exit 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("github: {orgs: []}\nserver: {listen_addr: nope}\n")
    code = cli.main(["history", "--config", str(bad), "--from", "2026-01-01", "--output", "x.om"])
    assert code == cli.EXIT_BAD_CONFIG
    assert "configuration problem" in capsys.readouterr().err


def test_a_from_older_than_a_year_is_clipped_and_said_at_once(
    running: Running, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--from two years back starts one year back, with a warning; days before the data count as skipped."""
    args = ["history", "--config", str(running.config), "--from", "2020-01-01", "--to", LAST.isoformat()]
    assert cli.main([*args, "--output", str(tmp_path / "h.om"), "--no-loc"]) == cli.EXIT_OK
    captured = capsys.readouterr()
    assert "is older than the API keeps (one year)" in captured.err
    assert "history: 364 day(s)" in captured.out
    assert "without a report" in captured.out
