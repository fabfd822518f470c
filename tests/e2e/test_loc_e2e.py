"""End to end: the weekly LOC collector against the real simulator equals its ground truth exactly.

Real `GitHubClient` with App auth, real `RepoDirectory`, `MemorySnapshotStore`, one frozen `SimClock`
shared by everything (so "now" is exact and time moves only when a test moves it); sleeps are no-ops.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from github_stats_exporter import metrics
from github_stats_exporter.config import LocConfig
from github_stats_exporter.github.auth import AppAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.model import JobKind, LocReason, MissedWindow, SnapshotKey, TimeWindow
from github_stats_exporter.scrape.loc import LocCollector
from github_stats_exporter.scrape.locstate import WEEK_SECONDS, loc_week
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.simulator.truth import LOC_ADDED, LOC_REMOVED
from github_stats_exporter.simulator.truth import WEEK_SECONDS as TRUTH_WEEK
from github_stats_exporter.store.memory import MemorySnapshotStore

ORG = "acme"
APP_ID = 31
INSTALLATION = 41
START = 1_780_000_000.0  # Thursday 2026-05-28 20:26:40 UTC
HUGE = "monorepo"
EMPTY = "empty-placeholder"
LocKey = tuple[str, str, str, str]


def spec() -> WorldSpec:
    return WorldSpec(
        seed=11,
        orgs=(OrgSpec(ORG, repos=10, users=9, app_id=APP_ID, installation_id=INSTALLATION),),
        start=START,
        history_days=21,
        future_days=10,
    )


@pytest.fixture(scope="module")
def app_keys() -> tuple[str, str]:
    return generate_key_pair()


async def _no_sleep(_: float) -> None:
    return None


@dataclass
class Rig:
    """A running simulator plus a LOC collector wired to it the way the exporter wires it."""

    sim: Simulator
    clock: SimClock
    store: MemorySnapshotStore
    self_metrics: SelfMetrics
    collector: LocCollector
    missed: list[MissedWindow] = field(default_factory=list)

    def stats_calls(self) -> int:
        return self.sim.stats.total("contributor_stats")

    async def loc_values(self, *, repo: str | None = None) -> dict[LocKey, float]:
        keys = [
            k for k in await self.store.versions() if k.kind == "loc" and (repo is None or k.parts[1] == repo)
        ]
        out: dict[LocKey, float] = {}
        for snap in (await self.store.get_many(keys)).values():
            for s in snap.samples:
                if s.name in (LOC_ADDED, LOC_REMOVED):
                    out[s.name, s.label("org") or "", s.label("repo") or "", s.label("user") or ""] = s.value
        return out

    async def sample_value(self, repo: str, name: str, **labels: str) -> float | None:
        snap = (await self.store.get_many([SnapshotKey("loc", (ORG, repo))])).get(
            SnapshotKey("loc", (ORG, repo))
        )
        if snap is None:
            return None
        for s in snap.samples:
            if s.name == name and all(s.label(k) == v for k, v in labels.items()):
                return s.value
        return None

    def truth(self, *, repo: str | None = None) -> dict[LocKey, float]:
        return {
            k: v
            for k, v in self.sim.truth().items()
            if k[0] in (LOC_ADDED, LOC_REMOVED) and (repo is None or k[2] == repo)
        }

    def week_commits(self, repo: str) -> int:
        """Non-merge commits authored in the selected week and visible now (what sampling must detail)."""
        now = self.clock.now()
        w = loc_week(now)
        data = self.sim.world.repo(ORG, repo)
        return sum(
            1 for c in data.visible_commits(now) if not c.is_merge and w <= c.authored_at < w + WEEK_SECONDS
        )


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(app_keys: tuple[str, str]) -> AsyncIterator[RigFactory]:
    async with AsyncExitStack() as stack:

        async def factory(*, warmup: int = 1, start: float = START, **loc: Any) -> Rig:
            clock = SimClock(frozen_at=start)
            sim = Simulator(
                spec(), clock=clock, prewarm=True, stats_warmup_requests=warmup, rate_limit=1_000_000
            )
            sim.add_app(APP_ID, app_keys[1])
            await stack.enter_async_context(sim)
            session = await stack.enter_async_context(aiohttp.ClientSession())
            options = ClientOptions(base_url=sim.api_url, max_attempts=2, initial_backoff=0.001, jitter=False)
            auth = AppAuth(
                APP_ID,
                INSTALLATION,
                app_keys[0],
                api_base_url=sim.api_url,
                session=session,
                clock=clock.now,
                user_agent="loc-e2e",
                api_version=options.api_version,
            )
            self_metrics = SelfMetrics()
            client = GitHubClient(
                options,
                auth,
                org=ORG,
                metrics=self_metrics,
                session=session,
                sleep=_no_sleep,
                clock=clock.now,
                rng=random.Random(1),
            )
            await stack.enter_async_context(client)
            store = MemorySnapshotStore(clock=clock.now)
            missed: list[MissedWindow] = []

            async def record(window: MissedWindow) -> None:
                missed.append(window)

            settings = LocConfig(**{"refresh_interval": timedelta(hours=24), **loc})
            directory = RepoDirectory(client, ORG, allowlist=["*"], include_archived=False)
            collector = LocCollector(
                client,
                directory,
                store,
                org=ORG,
                settings=settings,
                concurrency=4,
                metrics=self_metrics,
                missed=record,
                clock=clock.now,
                sleep=_no_sleep,
            )
            return Rig(sim, clock, store, self_metrics, collector, missed)

        yield factory


FALLBACK_ON: dict[str, Any] = {
    "fallback_enabled": True,
    "fallback_max_commit_detail_calls_per_org_per_hour": 5000,
    "large_repo_zero_detection_windows": 2,
}


async def test_one_tick_equals_truth_for_normal_repos(make_rig: RigFactory) -> None:
    """After one tick (every repo warms up with a 202 first) the normal repos' LOC equals ground truth exactly."""
    rig = await make_rig()
    assert await rig.collector.tick() is True
    truth = rig.truth()
    got = await rig.loc_values()
    normal = {k: v for k, v in truth.items() if k[2] != HUGE}
    assert normal  # the world has real activity in the selected week
    assert {k: v for k, v in got.items() if k[2] != HUGE} == normal
    assert rig.collector.warming == frozenset()
    assert rig.missed == []
    # Each warm repo answered 202 once and 200 once; nothing else was asked twice.
    assert rig.sim.stats.requests["contributor_stats", 202] >= 1


async def test_empty_repo_yields_nothing_and_is_no_failure(make_rig: RigFactory) -> None:
    """The empty repository produces no series at all and is not counted as a failure."""
    rig = await make_rig()
    assert await rig.collector.tick() is True
    assert await rig.store.get_many([SnapshotKey("loc", (ORG, EMPTY))]) == {}
    assert EMPTY not in rig.collector.failed
    assert rig.self_metrics.value(metrics.LOC_REPOS_FAILED, {"org": ORG}) == 0


async def test_slow_warming_repo_resolves_by_repoll_and_settle(make_rig: RigFactory) -> None:
    """A repo answering 202 five times is still warming after the tick's re-polls and complete after settle()."""
    rig = await make_rig()
    slow = next(k[2] for k in rig.truth() if k[2] != HUGE)
    rig.sim.set_stats_warmup(ORG, slow, 5)
    assert await rig.collector.tick() is True
    assert rig.collector.warming == {slow}
    assert rig.self_metrics.value(metrics.LOC_REPOS_WARMING, {"org": ORG}) == 1
    assert await rig.loc_values(repo=slow) == {}
    assert await rig.collector.settle(timeout=120.0) is True
    assert await rig.loc_values(repo=slow) == rig.truth(repo=slow)
    assert rig.missed == []


async def test_settle_gives_up_after_the_timeout(make_rig: RigFactory) -> None:
    """A repo that never finishes computing makes settle() return False once its timeout is spent."""
    rig = await make_rig()
    slow = next(k[2] for k in rig.truth() if k[2] != HUGE)
    rig.sim.set_stats_warmup(ORG, slow, 10_000)
    await rig.collector.tick()
    before = rig.stats_calls()
    assert await rig.collector.settle(timeout=30.0) is False
    assert rig.collector.warming == {slow}
    assert 1 <= rig.stats_calls() - before <= 5  # 2+4+8+16 s of backoff fit into 30 s
    assert rig.missed == []


async def test_huge_repo_switches_to_sampling_after_the_detection_windows(make_rig: RigFactory) -> None:
    """The monorepo's zeroed stats are held for one window, then commit sampling reproduces the true weekly LOC."""
    rig = await make_rig(**FALLBACK_ON)
    assert await rig.collector.tick() is True
    assert await rig.loc_values(repo=HUGE) == {}  # zeros seen once: not yet trusted, not published
    assert rig.sim.stats.total("get_commit") == 0
    assert await rig.collector.tick() is True
    assert await rig.loc_values(repo=HUGE) == rig.truth(repo=HUGE) != {}
    assert await rig.sample_value(HUGE, metrics.LOC_SOURCE_MODE.name, mode="sampled_commit_stats") == 1
    assert await rig.sample_value(HUGE, metrics.LOC_SOURCE_MODE.name, mode="stats_contributors") == 0
    assert await rig.sample_value(HUGE, metrics.LOC_FALLBACK_INCOMPLETE.name) == 0
    assert rig.sim.stats.total("get_commit") == rig.week_commits(HUGE)
    # Everything else is still from stats/contributors and still exact.
    assert await rig.loc_values() == rig.truth()


async def test_sampling_within_a_small_budget_is_partial_then_converges_hour_by_hour(
    make_rig: RigFactory,
) -> None:
    """With an hourly budget below the week's commits the value is flagged partial and completes over later hours."""
    probe = await make_rig()
    needed = probe.week_commits(HUGE)
    budget = math.ceil(needed / 3)
    rig = await make_rig(**{**FALLBACK_ON, "fallback_max_commit_detail_calls_per_org_per_hour": budget})
    await rig.collector.tick()
    await rig.collector.tick()
    assert await rig.sample_value(HUGE, metrics.LOC_FALLBACK_INCOMPLETE.name) == 1
    assert rig.sim.stats.total("get_commit") == budget
    assert rig.self_metrics.value(metrics.LOC_FALLBACK_BUDGET_EXHAUSTED, {"org": ORG}) == 1
    # Within the same hour another cycle spends nothing (not even the listing).
    lists = rig.sim.stats.total("list_commits")
    await rig.collector.tick()
    assert rig.sim.stats.total("get_commit") == budget
    assert rig.sim.stats.total("list_commits") == lists
    for _ in range(4):
        rig.clock.advance(3600)
        await rig.collector.tick()
    assert await rig.sample_value(HUGE, metrics.LOC_FALLBACK_INCOMPLETE.name) == 0
    assert await rig.loc_values(repo=HUGE) == rig.truth(repo=HUGE)
    # Cached details are never fetched twice.
    assert rig.sim.stats.total("get_commit") == rig.week_commits(HUGE)


async def test_refresh_interval_is_respected_and_a_new_week_refreshes(make_rig: RigFactory) -> None:
    """A second tick within the interval asks no stats; when the next week starts every active repo is refreshed."""
    rig = await make_rig()
    await rig.collector.tick()
    first = rig.stats_calls()
    rig.clock.advance(600)
    await rig.collector.tick()
    assert rig.stats_calls() == first
    # Jump to just after the coming Sunday 00:00 UTC: the selected week moves on.
    next_week = loc_week(START) + 2 * TRUTH_WEEK
    rig.clock.set(next_week + 60)
    assert await rig.collector.tick() is True
    assert rig.stats_calls() > first
    assert await rig.loc_values() == {k: v for k, v in rig.truth().items() if k[2] != HUGE}
    snaps = await rig.store.get_many([k for k in await rig.store.versions() if k.kind == "loc"])
    assert {s.meta["week_start"] for s in snaps.values()} == {str(next_week - TRUTH_WEEK)}


async def test_server_errors_keep_the_old_snapshot_and_record_a_missed_window(make_rig: RigFactory) -> None:
    """500s beyond the retries leave the previous values in place, mark the repo failed and record the week for backfill."""
    rig = await make_rig()
    await rig.collector.tick()
    victim = next(k[2] for k in rig.truth() if k[2] != HUGE)
    key = SnapshotKey("loc", (ORG, victim))
    before = (await rig.store.get_many([key]))[key]
    rig.clock.advance(25 * 3600)  # past the refresh interval, same selected week
    assert loc_week(rig.clock.now()) == loc_week(START)
    rig.sim.faults.add(FaultRule(endpoint=f"/repos/{ORG}/{victim}/stats/contributors", status=502))
    assert await rig.collector.tick() is False
    after = (await rig.store.get_many([key]))[key]
    assert after.version == before.version
    assert rig.collector.failed == {victim}
    assert rig.self_metrics.value(metrics.LOC_REPOS_FAILED, {"org": ORG}) == 1
    week = loc_week(START)
    assert rig.missed == [
        MissedWindow(
            JobKind.LOC,
            "org",
            ORG,
            victim,
            LocReason.CONTRIBUTOR_STATS_FAILED,
            TimeWindow(float(week), float(week + TRUTH_WEEK)),
        )
    ]
    # Once GitHub recovers the backfill recomputes the repo and clears the failure.
    rig.sim.faults.clear()
    await rig.collector.backfill(victim)
    assert rig.collector.failed == frozenset()
    assert await rig.loc_values(repo=victim) == rig.truth(repo=victim)


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        pytest.param("list_commits", "fallback_list_commits_failed", id="listing"),
        pytest.param("get_commit", "fallback_commit_detail_failed", id="detail"),
    ],
)
async def test_sampling_failures_are_recorded_for_backfill(
    make_rig: RigFactory, route: str, reason: str
) -> None:
    """A commit listing or commit detail that fails after retries keeps the repo's old values and records the week."""
    rig = await make_rig(**FALLBACK_ON)
    await rig.collector.tick()
    rig.sim.faults.add(FaultRule(endpoint=route, status=500))
    assert await rig.collector.tick() is False
    assert [(m.target, m.reason) for m in rig.missed] == [(HUGE, reason)]
    assert await rig.loc_values(repo=HUGE) == {}
    rig.sim.faults.clear()
    # The next cycle carries on (already fetched details are cached) and reaches the truth.
    assert await rig.collector.tick() is True
    assert await rig.loc_values(repo=HUGE) == rig.truth(repo=HUGE)
    assert rig.sim.stats.requests["get_commit", 200] == rig.week_commits(HUGE)
