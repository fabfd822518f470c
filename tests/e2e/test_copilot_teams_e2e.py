"""Copilot teams end to end: real client, downloader and collector, then `once` and `serve`, against the truth.

Every gh_copilot_team_* series must equal `teams_truth` exactly (two orgs and the enterprise): the join is
day by day, a team under five members is absent, a member of two teams counts in both, and each day's
files are fetched once (a steady pass asks for the window and the one new day).
"""

from __future__ import annotations

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
from github_stats_exporter.scrape.copilot_teams import TeamOptions, TeamsCollector, snapshot_key
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.copilot_data import COUNTERS
from github_stats_exporter.simulator.copilot_teams import MIN_TEAM_SIZE, TINY_TEAM, TeamDirectory
from github_stats_exporter.simulator.copilot_teams_truth import TEAM_FAMILIES, teams_truth
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import EnterpriseSpec, OrgSpec, WorldSpec

pytestmark = pytest.mark.e2e

START = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
ORG_APP = 11
ENTERPRISE = "ent"
TOKEN = "ghp_teams"
SCOPES = (("org", "acme"), ("org", "globex"), ("enterprise", ENTERPRISE))


def world() -> WorldSpec:
    return WorldSpec(
        seed=7,
        orgs=(
            OrgSpec("acme", repos=1, users=26, app_id=ORG_APP, installation_id=21, special_repos=False),
            OrgSpec("globex", repos=1, users=14, app_id=ORG_APP, installation_id=22, special_repos=False),
        ),
        enterprise=EnterpriseSpec(ENTERPRISE, app_id=13, installation_id=23, orgs=("acme", "globex")),
        start=START,
        commits_per_day=1.0,
        prs_per_day=1.0,
    )


class Env(DayEnv):
    def collector(self, scope: str, scope_id: str) -> TeamsCollector:
        return TeamsCollector(
            self.client(scope_id),
            self.downloader,
            self.store,
            self.metrics,
            TeamOptions(scope, scope_id, 3600.0, backoff_seconds=0.0),  # type: ignore[arg-type]
            health=FoldedHealth(self.health),
            clock=self.clock.now,
        )

    async def team_series(self, scope: str, scope_id: str) -> dict[TruthKey, float]:
        return await self.series(snapshot_key(scope, scope_id))  # type: ignore[arg-type]

    def end_day(self) -> date:
        today = datetime.fromtimestamp(self.clock.now(), UTC).date()
        return self.sim.copilot.latest_complete_day(today)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with open_day_env(Env, world(), START, TOKEN, ["acme", "globex"], ENTERPRISE) as environment:
        yield environment


def _team(key: TruthKey) -> tuple[str, str]:
    labels = dict(key[1])
    return labels["team"], labels["window"]


@pytest.mark.parametrize(("scope", "scope_id"), [pytest.param(s, i, id=f"{s}-{i}") for s, i in SCOPES])
async def test_every_team_series_equals_the_ground_truth(env: Env, scope: str, scope_id: str) -> None:
    """One pass: the snapshot holds exactly the truth's team series, both windows, every family."""
    collector = env.collector(scope, scope_id)
    assert await collector.tick()
    end = env.end_day()
    truth = teams_truth(env.sim.copilot, scope, scope_id, end)  # type: ignore[arg-type]
    assert await env.team_series(scope, scope_id) == truth
    assert {name for name, _ in truth} == set(TEAM_FAMILIES)
    teams = {_team(k) for k in truth}
    assert {w for _, w in teams} == {"28d", "1d"}
    # The tiny team (three members) is left out by GitHub every day, so it has no series at all.
    assert TINY_TEAM not in {t for t, _ in teams}
    assert env.health.states[collector.options.component] == (True, "")
    runs = {"org": scope_id, "scope": collector.options.self_scope, "result": "success"}
    assert env.metrics.value(metrics.COPILOT_SCRAPE_RUNS, runs) == 1


async def test_the_join_is_per_day_and_counts_a_member_of_two_teams_in_both(env: Env) -> None:
    """The truth is not what a 28-day total against the newest membership gives (membership moves), a
    member of two teams is counted in each, and the exporter agrees with the day-by-day truth."""
    assert await env.collector("org", "acme").tick()
    end = env.end_day()
    directory = TeamDirectory(env.sim.copilot)
    newest = directory.membership("org", "acme", end)
    oldest = directory.membership("org", "acme", end - timedelta(days=27))
    assert newest != oldest  # membership changed inside the window
    shown = {slug: members for slug, members in newest.items() if len(members) >= MIN_TEAM_SIZE}
    doubles = [u for u in set().union(*shown.values()) if sum(u in m for m in shown.values()) > 1]
    assert doubles, "the world should have a member of two reported teams"
    # The forbidden join: every user's 28-day total against the newest day's membership.
    rows = env.sim.copilot.report_rows("org", "acme", "users", "28d", end)
    totals: dict[str, float] = {}
    for row in rows:
        totals[row["user_login"]] = totals.get(row["user_login"], 0.0) + row["loc_added_sum"]
    naive = {slug: sum(totals.get(u, 0.0) for u in members) for slug, members in shown.items()}
    series = await env.team_series("org", "acme")
    exported = {
        dict(labels)["team"]: value
        for (name, labels), value in series.items()
        if name == "gh_copilot_team_loc_added_sum" and dict(labels)["window"] == "28d"
    }
    assert exported != {slug: v for slug, v in naive.items() if v}
    # A member of two teams counts in both: the teams' distinct users add up to more than the org's.
    active = sum(
        value
        for (name, labels), value in series.items()
        if name == "gh_copilot_team_active_users" and dict(labels)["window"] == "1d"
    )
    day_users = {r["user_id"] for r in env.sim.copilot.report_rows("org", "acme", "users", "1d", end)} & {
        env.sim.copilot.user_ids[u] for m in shown.values() for u in m
    }
    assert active > len(day_users)


async def test_a_steady_pass_fetches_only_the_new_day(env: Env) -> None:
    """Each day's files are fetched once: a second pass asks only for the window; a day later only the new
    day's two reports are asked for; days that left the window are pruned; the series follow the truth."""
    collector = env.collector("org", "globex")
    before = env.links()
    assert await collector.tick()
    first_pass = env.links() - before
    downloads = env.sim.stats.downloads
    assert 1 + 28 <= first_pass <= 1 + 2 * 28
    assert await collector.tick()
    assert env.links() - before == first_pass + 1  # the window only
    assert env.sim.stats.downloads == downloads
    runs = {"org": "globex", "scope": "teams", "result": "unchanged"}
    assert env.metrics.value(metrics.COPILOT_SCRAPE_RUNS, runs) == 1
    env.clock.advance(DAY)
    mark = env.links()
    assert await collector.tick()
    assert env.links() - mark <= 3  # the window, the new day's membership and (with teams) its users
    assert await env.team_series("org", "globex") == teams_truth(
        env.sim.copilot, "org", "globex", env.end_day()
    )
    assert len(await collector.membership.days()) == 28


async def test_a_failed_day_is_reported_and_keeps_the_last_series(env: Env) -> None:
    """A day whose membership cannot be read fails the pass: health turns bad, nothing half-joined is
    published; the next pass fetches only the missing days and publishes the truth."""
    collector = env.collector("org", "acme")
    assert await collector.tick()
    kept = await env.team_series("org", "acme")
    env.clock.advance(DAY)
    env.sim.faults.add(
        FaultRule(endpoint=r"/user-teams-1-day\?", status=500, times=2)
    )  # both attempts of one pass
    assert not await collector.tick()
    assert env.health.states[collector.options.component][0] is False
    assert await env.team_series("org", "acme") == kept
    assert await collector.tick()
    assert await env.team_series("org", "acme") == teams_truth(env.sim.copilot, "org", "acme", env.end_day())


async def test_every_counter_family_is_in_the_contract() -> None:
    """The truth's families are exactly the gh_copilot_team_* families of metrics.py."""
    contract = {name for name in metrics.FAMILIES if name.startswith("gh_copilot_team_")}
    assert contract == set(TEAM_FAMILIES)
    assert len(TEAM_FAMILIES) == len(COUNTERS) + 2


# --- through the service -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def org_keys() -> tuple[str, str]:
    return generate_key_pair()


def service_config(sim: Simulator, key_path: Path) -> Settings:
    return copilot_service_config(sim.api_url, key_path, {"include_teams": True}, enterprise_token=TOKEN)


team_page = partial(page_series, prefix="gh_copilot_team_")


def service_truth(sim: Simulator) -> dict[TruthKey, float]:
    end = sim.copilot.latest_complete_day(datetime.fromtimestamp(START, UTC).date())
    truth: dict[TruthKey, float] = {}
    for scope, scope_id in SCOPES:
        truth.update(teams_truth(sim.copilot, scope, scope_id, end))  # type: ignore[arg-type]
    return truth


async def test_once_exports_every_team_series_exactly(org_keys: tuple[str, str], tmp_path: Path) -> None:
    """`once` with include_teams (two orgs, the enterprise): the page's team series equal the truth."""
    key_path = tmp_path / "app.pem"
    key_path.write_text(org_keys[0])
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_app(ORG_APP, org_keys[1])
        sim.add_token(TOKEN, [], enterprise=ENTERPRISE)
        result = await app.once(service_config(sim, key_path), fmt=Format.OPENMETRICS, clock=clock.now)
        assert result.ok, result.failures
        truth = service_truth(sim)
    assert team_page(result.body) == truth
    assert {name for name, _ in truth} == set(TEAM_FAMILIES)
    assert b'gh_exporter_collection_health{component="github_api_copilot_org_teams"} 1' in result.body
    assert b'gh_exporter_collection_health{component="github_api_copilot_enterprise_teams"} 1' in result.body


async def test_disabled_teams_ask_nothing(org_keys: tuple[str, str], tmp_path: Path) -> None:
    """include_teams off (the default): no team series and no report request at all."""
    key_path = tmp_path / "app.pem"
    key_path.write_text(org_keys[0])
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_app(ORG_APP, org_keys[1])
        sim.add_token(TOKEN, [], enterprise=ENTERPRISE)
        settings = service_config(sim, key_path)
        off = settings.model_copy(
            update={
                "copilot": settings.copilot.model_copy(
                    update={
                        "include_teams": False,
                        "enterprise": settings.copilot.enterprise.model_copy(update={"enabled": False}),
                    }
                )
            }
        )
        result = await app.once(off, fmt=Format.TEXT, clock=clock.now)
    assert b"gh_copilot_team_" not in result.body
    assert sim.stats.total("copilot_report_link") == 0


async def test_serve_exports_every_team_series_exactly(org_keys: tuple[str, str], tmp_path: Path) -> None:
    """`serve` runs the team jobs as leader and its /metrics carries exactly the truth's team series."""
    key_path = tmp_path / "app.pem"
    key_path.write_text(org_keys[0])
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_app(ORG_APP, org_keys[1])
        sim.add_token(TOKEN, [], enterprise=ENTERPRISE)
        truth = service_truth(sim)
        page = await serve_until(service_config(sim, key_path), clock.now, truth, team_page)
    assert page == truth
