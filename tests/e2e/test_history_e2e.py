"""`history` end to end: simulator (70 days) → OpenMetrics → real promtool → a real Prometheus, against the truth.

The truth is computed from the simulator's rows (`copilot_truth`, `team_day_truth`, `repo_week_loc_truth`),
never through the exporter's mapper. A second test kills the command half way and shows that the rerun
asks only for what was left and writes the very same file as an uninterrupted run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.prometheus_server import running_prometheus

from github_stats_exporter.config import Settings, parse_config
from github_stats_exporter.history.assembly import HistoryOptions, dry_run, run_history
from github_stats_exporter.history.plan import HistoryError
from github_stats_exporter.history.progress import LogProgress
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.copilot_data import Scope
from github_stats_exporter.simulator.copilot_repos_truth import repos_truth
from github_stats_exporter.simulator.copilot_teams_truth import team_day_truth
from github_stats_exporter.simulator.copilot_truth import DIMENSIONS, copilot_truth
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import EnterpriseSpec, OrgSpec, WorldSpec
from github_stats_exporter.simulator.truth import repo_week_loc_truth, week_start

pytestmark = pytest.mark.e2e

START = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
DAY = 86400
WEEK = 7 * DAY
TOKEN = "ghp_history"
ENTERPRISE = "ent"
TODAY = datetime.fromtimestamp(START, UTC).date()
LAST = TODAY - timedelta(days=2)
FIRST = LAST - timedelta(days=61)  # 62 days
Point = tuple[str, frozenset[tuple[str, str]], int]
SCOPES: tuple[tuple[Scope, str], ...] = (("org", "acme"), ("enterprise", ENTERPRISE))


def world(start: float = START) -> WorldSpec:
    return WorldSpec(
        seed=11,
        orgs=(OrgSpec("acme", repos=3, users=20, app_id=11, installation_id=21, special_repos=False),),
        enterprise=EnterpriseSpec(ENTERPRISE, app_id=13, installation_id=23, orgs=("acme",)),
        start=start,
        history_days=70,
        commits_per_day=3.0,
        prs_per_day=1.0,
    )


def settings(api_url: str, token: dict[str, str], *, enterprise: bool = False) -> Settings:
    """The test config; ``enterprise`` adds the enterprise's reports and every breakdown."""
    copilot: dict[str, object] = {"enabled": True, "include_org_users_28d": True, "include_teams": True}
    if enterprise:
        copilot.update(
            {f"include_breakdown_{dimension}": True for dimension in ("ide", "feature", "language", "model")}
        )
        copilot.update(
            include_repositories=True,
            include_enterprise_28d=True,
            include_enterprise_users_28d=True,
            enterprise={"enabled": True, "slug": ENTERPRISE, "token_env": "GSE_HISTORY_TOKEN"},
        )
    return parse_config(
        {
            "server": {"log_level": "warning"},
            "github": {"api_base_url": api_url, "orgs": [{"org": "acme", **token}]},
            "retry": {"max_attempts": 2, "initial_backoff": "10ms", "max_backoff": "20ms"},
            "copilot": copilot,
        },
        environ={"GSE_HISTORY_TOKEN": TOKEN},
    )


def end_of(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), UTC).timestamp()) + DAY - 1


def truth(sim: Simulator) -> dict[Point, float]:
    """Every point the backfilled Prometheus must hold, from the simulator's own data."""
    out: dict[Point, float] = {}
    day = FIRST
    while day <= LAST:
        stamp = end_of(day)
        parts = [
            copilot_truth(sim.copilot, scope, scope_id, report, "1d", day, breakdowns=DIMENSIONS)
            for scope, scope_id in SCOPES
            for report in ("aggregate", "users")
        ]
        parts += [team_day_truth(sim.copilot, scope, scope_id, day) for scope, scope_id in SCOPES]
        for scope, scope_id in SCOPES:
            # The day's own view of the repository truth: its 1d series and its review stages.
            day_view = repos_truth(sim.copilot_repos, scope, scope_id, day)
            parts.append({k: v for k, v in day_view.items() if ("window", "28d") not in k[1]})
        for part in parts:
            for (name, labels), value in part.items():
                out[name, frozenset(labels), stamp] = value
        day += timedelta(days=1)
    first_ts, last_ts = end_of(FIRST) - DAY + 1, end_of(LAST)
    week = week_start(first_ts)
    while week + WEEK <= START:
        if first_ts <= week + WEEK - 1 <= last_ts:
            for info in sim.world.repos("acme"):
                for (name, org, repo, user), value in repo_week_loc_truth(
                    sim.world.repo("acme", info.name), START, week
                ).items():
                    loc_labels = frozenset({"org": org, "repo": repo, "user": user}.items())
                    out[name, loc_labels, week + WEEK - 1] = value
        week += WEEK
    return out


async def no_sleep(_seconds: float) -> None:
    return None


async def test_history_backfills_a_real_prometheus_with_exactly_the_truth(
    tool: Callable[..., str], tmp_path: Path
) -> None:
    """62 days of Copilot (org and enterprise: aggregate, users, teams, repositories) and every week of LOC
    reach Prometheus with the simulator's values."""
    prometheus = tool("prometheus")
    tool("promtool")
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_token(TOKEN, ["acme"], enterprise=ENTERPRISE)
        options = HistoryOptions(
            first=FIRST, last=LAST, output=tmp_path / "history.om", tsdb=tmp_path / "data"
        )
        outcome = await run_history(
            settings(sim.api_url, {"token_env": "GSE_HISTORY_TOKEN"}, enterprise=True),
            options,
            LogProgress(),
            clock=clock.now,
            sleep=no_sleep,
        )
        expected = truth(sim)
    summary = outcome.summary
    assert summary.ok, summary.failed
    assert summary.days == 62
    assert summary.tasks == 62 * 8
    assert summary.written is not None
    assert summary.written.samples == len(expected)
    assert (tmp_path / "history.om").read_bytes().endswith(b"# EOF\n")
    families = {name for name, _, _ in expected}
    assert {"gh_copilot_usage_daily_active_users", "gh_activity_loc_added_weekly"} <= families
    assert any(name.startswith("gh_copilot_team_") for name in families)
    assert "gh_copilot_repo_review_minutes" in families
    assert any(("scope", "enterprise_repository") in labels for _, labels, _ in expected)

    got: dict[Point, float] = {}
    async with running_prometheus(
        prometheus,
        "global:\n  scrape_interval: 1m\n",
        tmp_path,
        data_dir=tmp_path / "data",
        extra_args=["--storage.tsdb.retention.time=100y"],
    ) as prom:
        for promql in ('{__name__=~"gh_copilot_.+"}', '{__name__=~"gh_activity_loc_.+"}'):
            for series in await prom.query_range(promql, start=end_of(FIRST), end=end_of(LAST), step=DAY):
                labels = dict(series["metric"])
                name = labels.pop("__name__")
                for stamp, value in series["values"]:
                    got[name, frozenset(labels.items()), int(stamp)] = float(value)
    assert got.keys() == expected.keys(), {
        "missing": sorted(map(str, expected.keys() - got.keys()))[:5],
        "unexpected": sorted(map(str, got.keys() - expected.keys()))[:5],
    }
    wrong = {key: (got[key], value) for key, value in expected.items() if got[key] != value}
    assert not wrong, list(wrong.items())[:5]


async def _command(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "github_stats_exporter",
        "history",
        *args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_a_killed_history_continues_and_writes_the_identical_file(tmp_path: Path) -> None:
    """SIGKILL half way, rerun: only the unfinished reports are asked for and the file equals an uninterrupted run's."""
    # The command reads the real clock (the one-year limit), so this world is set in the present.
    start = float(int(time.time() // DAY) * DAY + 3600)
    last = datetime.fromtimestamp(start, UTC).date() - timedelta(days=2)
    first = last - timedelta(days=61)
    clock = SimClock(frozen_at=start)
    async with Simulator(world(start), clock=clock) as sim:
        sim.add_token(TOKEN, ["acme"])
        (tmp_path / "token").write_text(TOKEN)
        config = tmp_path / "config.yaml"
        config.write_text(
            "server: {log_level: warning}\n"
            f"github: {{api_base_url: '{sim.api_url}', orgs: [{{org: acme, token_file: '{tmp_path / 'token'}'}}]}}\n"
            "copilot: {enabled: true, include_org_users_28d: true, include_teams: true}\n"
        )
        span = ["--config", str(config), "--from", first.isoformat(), "--to", last.isoformat()]

        full = await _command(*span, "--output", str(tmp_path / "full.om"))
        _, err = await full.communicate()
        assert full.returncode == 0, err.decode()
        links_full = sim.stats.total("copilot_report_link")

        killed = await _command(*span, "--output", str(tmp_path / "resumed.om"))
        runs = tmp_path / "resumed.om.state" / "runs"
        deadline = time.monotonic() + 60
        while not runs.exists() or len(list(runs.glob("*.json"))) < 60:
            assert killed.returncode is None, "history finished before it could be killed"
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        killed.send_signal(signal.SIGKILL)
        await killed.wait()
        finished = len(list(runs.glob("*.json")))
        assert finished < 62 * 3, "killed too late to show anything"
        assert not (tmp_path / "resumed.om").exists()

        before = sim.stats.total("copilot_report_link")
        rerun = await _command(*span, "--output", str(tmp_path / "resumed.om"))
        _, err = await rerun.communicate()
        assert rerun.returncode == 0, err.decode()
        asked = sim.stats.total("copilot_report_link") - before
    assert asked < links_full
    # A finished task needed at least one link; a day cut in half may need its users-1-day once more.
    assert asked <= links_full - finished + 1
    assert (tmp_path / "resumed.om").read_bytes() == (tmp_path / "full.om").read_bytes()


async def test_days_without_a_report_are_skipped_and_a_failed_day_is_fetched_by_the_rerun(
    tmp_path: Path,
) -> None:
    """204 days count as skipped; a day that keeps failing exits 1 with the rest written; the rerun asks only for it."""
    clock = SimClock(frozen_at=START)
    first_data = datetime.fromtimestamp(START - 70 * DAY, UTC).date()
    first = first_data - timedelta(days=3)  # three days before the simulator has any report
    bad = (first_data + timedelta(days=5)).isoformat()
    async with Simulator(world(), clock=clock) as sim:
        sim.add_token(TOKEN, ["acme"])
        config = settings(sim.api_url, {"token_env": "GSE_HISTORY_TOKEN"})
        last = first + timedelta(days=9)

        def options(name: str) -> HistoryOptions:
            return HistoryOptions(first=first, last=last, output=tmp_path / f"{name}.om", loc=False)

        sim.faults.add(FaultRule(endpoint=rf"users-1-day\?day={bad}", status=500))
        broken = await run_history(config, options("h"), LogProgress(), clock=clock.now, sleep=no_sleep)
        assert not broken.summary.ok
        # The users report and the teams join (which reads users-1-day) of that day failed.
        assert len(broken.summary.failed) == 2
        assert all(bad in key for key in broken.summary.failed)
        assert broken.summary.no_report == 3 * 2  # aggregate and users 204 for three days (teams: no teams)
        assert f'{bad}"' not in (tmp_path / "h.om").read_text()

        sim.faults.clear()
        before = sim.stats.total("copilot_report_link")
        rerun = await run_history(config, options("h"), LogProgress(), clock=clock.now, sleep=no_sleep)
        asked = sim.stats.total("copilot_report_link") - before
        clean = await run_history(config, options("clean"), LogProgress(), clock=clock.now, sleep=no_sleep)
    assert rerun.summary.ok
    assert clean.summary.ok
    assert rerun.summary.finished_before == 10 * 3 - 2
    assert asked == 2  # user-teams-1-day and users-1-day, read once for the users report and the join
    assert (tmp_path / "h.om").read_bytes() == (tmp_path / "clean.om").read_bytes()


async def test_dry_run_counts_requests_per_report_and_reads_the_budget() -> None:
    """--dry-run: days x requests per report, one listing page plus one request per repository, the budget left."""
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_token(TOKEN, ["acme"])
        config = settings(sim.api_url, {"token_env": "GSE_HISTORY_TOKEN"})
        plan = await dry_run(
            config, HistoryOptions(first=FIRST, last=LAST, output=Path("x.om")), clock=clock.now
        )
        links = sim.stats.total("copilot_report_link")
    assert plan.requests == {
        ("acme", "organization"): 62,
        ("acme", "users"): 62,
        ("acme", "teams"): 62,  # user-teams-1-day; users-1-day is shared with the users report
        ("acme", "loc"): 1 + 3,
    }
    estimate = plan.installations["org/acme"]
    assert estimate.requests == 62 * 3 + 4
    assert estimate.remaining is not None
    assert estimate.wait_seconds == 0.0
    assert links == 0


async def test_history_pauses_before_the_budget_is_gone_and_never_hits_the_limit(tmp_path: Path) -> None:
    """With a budget smaller than the work, the client waits for the reset instead of running into 403s."""
    clock = SimClock(frozen_at=START)
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        clock.advance(seconds)

    async with Simulator(world(), clock=clock, rate_limit=30) as sim:
        sim.add_token(TOKEN, ["acme"])
        config = settings(sim.api_url, {"token_env": "GSE_HISTORY_TOKEN"})
        config = config.model_copy(
            update={"rate_limit": config.rate_limit.model_copy(update={"min_remaining_threshold": 5})}
        )
        options = HistoryOptions(first=LAST - timedelta(days=9), last=LAST, output=tmp_path / "h.om")
        outcome = await run_history(config, options, LogProgress(), clock=clock.now, sleep=sleep)
        refused = sum(n for (_, status), n in sim.stats.requests.items() if status in (403, 429))
        budgeted = sim.stats.rate_limited()
    assert outcome.summary.ok, outcome.summary.failed
    assert budgeted > 30
    assert refused == 0
    assert max(pauses) > 60  # waited for the hourly reset


async def test_a_later_run_with_the_same_state_reads_only_the_new_days(tmp_path: Path) -> None:
    """The span is not part of the plan: extending --to by two days asks for those two days only."""
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_token(TOKEN, ["acme"])
        config = settings(sim.api_url, {"token_env": "GSE_HISTORY_TOKEN"})
        first = LAST - timedelta(days=6)
        state = tmp_path / "state"
        short = HistoryOptions(
            first=first, last=LAST - timedelta(days=2), output=tmp_path / "a.om", state=state
        )
        await run_history(config, short, LogProgress(), clock=clock.now, sleep=no_sleep)
        before = sim.stats.total("copilot_report_link")
        longer = HistoryOptions(first=first, last=LAST, output=tmp_path / "b.om", state=state, loc=False)
        with pytest.raises(HistoryError, match="another history plan"):
            await run_history(config, longer, LogProgress(), clock=clock.now, sleep=no_sleep)
        longer = HistoryOptions(first=first, last=LAST, output=tmp_path / "b.om", state=state)
        outcome = await run_history(config, longer, LogProgress(), clock=clock.now, sleep=no_sleep)
        asked = sim.stats.total("copilot_report_link") - before
    assert outcome.summary.ok
    assert outcome.summary.finished_before == 5 * 3
    assert asked == 2 * 3  # aggregate, users, user-teams (users-1-day serves the teams join too)
    assert f"{end_of(LAST)}\n" in (tmp_path / "b.om").read_text()


async def test_lines_of_code_wait_for_computed_statistics_and_fail_what_never_comes(tmp_path: Path) -> None:
    """A 202 is asked again after 2, 4, 8… s; a repository still computing after the polls fails, the others do not."""
    clock = SimClock(frozen_at=START)
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    async with Simulator(world(), clock=clock) as sim:
        sim.add_token(TOKEN, ["acme"])
        stuck = sim.world.repos("acme")[0].name
        sim.set_stats_warmup("acme", stuck, 99)
        config = settings(sim.api_url, {"token_env": "GSE_HISTORY_TOKEN"})
        options = HistoryOptions(first=FIRST, last=LAST, output=tmp_path / "h.om", copilot=False)
        outcome = await run_history(config, options, LogProgress(), clock=clock.now, sleep=sleep)
        sim.faults.add(FaultRule(endpoint="list_org_repos", status=404))
        unlisted = await run_history(
            config,
            HistoryOptions(first=FIRST, last=LAST, output=tmp_path / "u.om", copilot=False),
            LogProgress(),
            clock=clock.now,
            sleep=sleep,
        )
    assert outcome.summary.failed == [f"loc-acme-{stuck}-{FIRST}-{LAST}"]
    assert outcome.summary.repos == 3
    assert sorted(set(pauses)) == [2.0, 4.0, 8.0, 16.0, 32.0]
    text = (tmp_path / "h.om").read_text()
    assert f'repo="{stuck}"' not in text
    assert "gh_activity_loc_added_weekly{" in text
    assert unlisted.summary.failed == ["loc-acme"]
    assert (tmp_path / "u.om").read_text() == "# EOF\n"
