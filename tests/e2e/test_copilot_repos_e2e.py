"""Copilot repositories end to end: real client, downloader and collector, then `once` and `serve`, against the truth.

Every repository series (gh_copilot_usage_pull_requests_* with scope repository / enterprise_repository and
gh_copilot_repo_review_minutes) must equal `repos_truth` exactly for two orgs and the enterprise: a repository
quiet on the newest day has no 1d series, 204 days add nothing and are not asked again, lines that do not
decode are skipped and counted, and a steady pass asks only for the window and the new day.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from tests.support.copilot_e2e import DAY, DayEnv, TruthKey, open_day_env, page_series, serve_until
from tests.support.copilot_e2e import service_config as copilot_service_config

from github_stats_exporter import app, metrics
from github_stats_exporter.config import Settings
from github_stats_exporter.exposition import Format
from github_stats_exporter.health import FoldedHealth
from github_stats_exporter.scrape.copilot_repos import RepoOptions, ReposCollector, snapshot_key
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.copilot_repos_truth import REVIEW_FAMILY, repos_truth
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import EnterpriseSpec, OrgSpec, WorldSpec

pytestmark = pytest.mark.e2e

START = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
ORG_APP = 11
ENTERPRISE = "ent"
TOKEN = "ghp_repos"
SCOPES = (("org", "acme"), ("org", "globex"), ("enterprise", ENTERPRISE))
copilot_page = partial(page_series, prefix="gh_copilot_")


def world() -> WorldSpec:
    return WorldSpec(
        seed=7,
        orgs=(
            OrgSpec("acme", repos=6, users=26, app_id=ORG_APP, installation_id=21, special_repos=False),
            OrgSpec("globex", repos=4, users=14, app_id=ORG_APP, installation_id=22, special_repos=False),
        ),
        enterprise=EnterpriseSpec(ENTERPRISE, app_id=13, installation_id=23, orgs=("acme", "globex")),
        start=START,
        commits_per_day=1.0,
        prs_per_day=1.0,
    )


class Env(DayEnv):
    def collector(self, scope: str, scope_id: str) -> ReposCollector:
        return ReposCollector(
            self.client(scope_id),
            self.downloader,
            self.store,
            self.metrics,
            RepoOptions(scope, scope_id, 3600.0, backoff_seconds=0.0),  # type: ignore[arg-type]
            health=FoldedHealth(self.health),
            clock=self.clock.now,
        )

    async def repo_series(self, scope: str, scope_id: str) -> dict[TruthKey, float]:
        return await self.series(snapshot_key(scope, scope_id))  # type: ignore[arg-type]

    def end_day(self) -> date:
        return self.sim.copilot.latest_complete_day(datetime.fromtimestamp(self.clock.now(), UTC).date())

    def truth(self, scope: str, scope_id: str) -> dict[TruthKey, float]:
        return repos_truth(self.sim.copilot_repos, scope, scope_id, self.end_day())  # type: ignore[arg-type]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with open_day_env(Env, world(), START, TOKEN, ["acme", "globex"], ENTERPRISE) as environment:
        yield environment


def _repos(truth: dict[TruthKey, float], window: str) -> set[str]:
    return {dict(labels)["repo"] for name, labels in truth if dict(labels).get("window") == window}


@pytest.mark.parametrize(("scope", "scope_id"), [pytest.param(s, i, id=f"{s}-{i}") for s, i in SCOPES])
async def test_every_repository_series_equals_the_ground_truth(env: Env, scope: str, scope_id: str) -> None:
    """One pass: the snapshot holds exactly the truth's repository series (both windows, the medians, the
    comment types, the review stages); a repository quiet on the newest day has 28d series but no 1d ones."""
    collector = env.collector(scope, scope_id)
    assert await collector.tick()
    truth = env.truth(scope, scope_id)
    assert await env.repo_series(scope, scope_id) == truth
    names = {name for name, _ in truth}
    assert REVIEW_FAMILY in names
    assert "gh_copilot_usage_pull_requests_copilot_suggestions_by_comment_type" in names
    assert "gh_copilot_usage_pull_requests_median_minutes_to_merge" in names
    assert _repos(truth, "1d") < _repos(truth, "28d")  # some repository had nothing on the newest day
    series_scope = "repository" if scope == "org" else "enterprise_repository"
    assert {dict(labels)["scope"] for _, labels in truth} == {series_scope}
    assert env.health.states[collector.options.component] == (True, "")


async def test_204_days_add_nothing_and_are_not_asked_again(env: Env) -> None:
    """The window has 204 days (the newest day is not one): the series still equal the truth, and a second
    pass asks only for the window — the 204 days are remembered in the store."""
    end = env.end_day()
    days = [end - timedelta(days=i) for i in range(28)]
    empty = [d for d in days if env.sim.copilot_repos.rows("org", "acme", d) is None]
    assert empty
    assert end not in empty
    collector = env.collector("org", "acme")
    assert await collector.tick()
    assert env.links() == 1 + 28  # the window, then each day once
    assert len(await collector.days.days()) == 28
    assert await collector.tick()
    assert env.links() == 1 + 28 + 1  # the window only
    assert await env.repo_series("org", "acme") == env.truth("org", "acme")


async def test_a_steady_pass_fetches_only_the_new_day(env: Env) -> None:
    """Each day is fetched once: a second pass asks only for the window (no download); a day later the
    window and the new day; days that left the window are pruned; the series follow the truth."""
    collector = env.collector("org", "globex")
    assert await collector.tick()
    assert env.links() == 1 + 28
    downloads = env.sim.stats.downloads
    assert await collector.tick()
    assert env.links() == 1 + 28 + 1
    assert env.sim.stats.downloads == downloads
    runs = {"org": "globex", "scope": "repos", "result": "unchanged"}
    assert env.metrics.value(metrics.COPILOT_SCRAPE_RUNS, runs) == 1
    env.clock.advance(DAY)
    mark = env.links()
    assert await collector.tick()
    assert env.links() - mark == 2  # the window and the new day
    assert await env.repo_series("org", "globex") == env.truth("org", "globex")
    assert len(await collector.days.days()) == 28


async def test_a_failed_day_is_reported_and_keeps_the_last_series(env: Env) -> None:
    """A day whose report cannot be read fails the pass: health turns bad and the last series stay; the next
    pass fetches the missing day and publishes the truth."""
    collector = env.collector("enterprise", ENTERPRISE)
    assert await collector.tick()
    kept = await env.repo_series("enterprise", ENTERPRISE)
    env.clock.advance(DAY)
    env.sim.faults.add(FaultRule(endpoint=r"/repos-1-day\?", status=500, times=2))  # both attempts
    assert not await collector.tick()
    assert env.health.states[collector.options.component][0] is False
    assert await env.repo_series("enterprise", ENTERPRISE) == kept
    assert await collector.tick()
    assert await env.repo_series("enterprise", ENTERPRISE) == env.truth("enterprise", ENTERPRISE)


async def test_bad_lines_in_a_file_are_skipped_and_counted(env: Env) -> None:
    """A report file with two lines that do not decode: they are counted as parse errors, every good row
    still makes its series, and the series equal the truth."""
    env.sim.faults.add(FaultRule(endpoint="copilot_report_download", kind="malformed", times=1))
    collector = env.collector("org", "acme")
    assert await collector.tick()
    assert await env.repo_series("org", "acme") == env.truth("org", "acme")
    dropped = {"org": "acme", "scope": "repos", "reason": "parse_error"}
    assert env.metrics.value(metrics.COPILOT_RECORDS_DROPPED, dropped) == 2


# --- through the service -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def org_keys() -> tuple[str, str]:
    return generate_key_pair()


def service_config(sim: Simulator, key_path: Path, *, repositories: bool = True) -> Settings:
    return copilot_service_config(
        sim.api_url,
        key_path,
        {"include_repositories": repositories},
        enterprise_token=TOKEN,
        enterprise=repositories,
    )


def service_truth(sim: Simulator) -> dict[TruthKey, float]:
    end = sim.copilot.latest_complete_day(datetime.fromtimestamp(START, UTC).date())
    truth: dict[TruthKey, float] = {}
    for scope, scope_id in SCOPES:
        truth.update(repos_truth(sim.copilot_repos, scope, scope_id, end))  # type: ignore[arg-type]
    return truth


@contextlib.asynccontextmanager
async def service_sim(org_keys: tuple[str, str], tmp_path: Path) -> AsyncIterator[tuple[Simulator, Path]]:
    key_path = tmp_path / "app.pem"
    key_path.write_text(org_keys[0])
    async with Simulator(world(), clock=SimClock(frozen_at=START)) as sim:
        sim.add_app(ORG_APP, org_keys[1])
        sim.add_token(TOKEN, [], enterprise=ENTERPRISE)
        yield sim, key_path


async def test_once_exports_every_repository_series_exactly(
    org_keys: tuple[str, str], tmp_path: Path
) -> None:
    """`once` with include_repositories (two orgs, the enterprise): the page's Copilot series equal the truth."""
    async with service_sim(org_keys, tmp_path) as (sim, key_path):
        result = await app.once(service_config(sim, key_path), fmt=Format.OPENMETRICS, clock=sim.clock.now)
        assert result.ok, result.failures
        truth = service_truth(sim)
    assert copilot_page(result.body) == truth
    for component in ("github_api_copilot_org_repos", "github_api_copilot_enterprise_repos"):
        assert f'gh_exporter_collection_health{{component="{component}"}} 1'.encode() in result.body


async def test_disabled_repositories_ask_nothing(org_keys: tuple[str, str], tmp_path: Path) -> None:
    """include_repositories off (the default): no repository series and no report request at all."""
    async with service_sim(org_keys, tmp_path) as (sim, key_path):
        result = await app.once(service_config(sim, key_path, repositories=False), fmt=Format.TEXT)
    assert b'scope="repository"' not in result.body
    assert b"gh_copilot_repo_" not in result.body
    assert sim.stats.total("copilot_report_link") == 0


async def test_serve_exports_every_repository_series_exactly(
    org_keys: tuple[str, str], tmp_path: Path
) -> None:
    """`serve` runs the repository jobs as leader and its /metrics carries exactly the truth's series."""
    async with service_sim(org_keys, tmp_path) as (sim, key_path):
        truth = service_truth(sim)
        page = await serve_until(service_config(sim, key_path), sim.clock.now, truth, copilot_page)
    assert page == truth
