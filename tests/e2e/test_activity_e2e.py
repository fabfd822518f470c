"""Activity collection end to end: the real client and collector against the simulator's ground truth.

Every test compares what the collector wrote to the store with `activity_truth` at the same instant,
exactly, as the simulated clock moves forward and faults come and go.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import aiohttp
import pytest
from tests.support.cleanup_store import CleanupCountingStore

from github_stats_exporter import metrics
from github_stats_exporter.github.auth import AppAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.model import MissedWindow, Snapshot, SnapshotKey, TimeWindow
from github_stats_exporter.scrape.activity import ActivityCollector, ledger_name
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.scrape.shard import WHOLE_ORG, RepoShard
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.simulator.truth import activity_truth
from github_stats_exporter.store.base import StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore

pytestmark = pytest.mark.e2e

START = 1_780_000_000.0
ORG = "acme"
APP_ID = 11
ACTIVITY = frozenset(
    spec.name
    for spec in (
        metrics.ACTIVITY_COMMITS,
        metrics.ACTIVITY_PRS_OPENED,
        metrics.ACTIVITY_PRS_MERGED,
        metrics.ACTIVITY_REVIEWS,
        metrics.ACTIVITY_ISSUE_COMMENTS,
        metrics.ACTIVITY_LAST_EVENT,
    )
)
Values = dict[tuple[str, str, str, str], float]


def spec() -> WorldSpec:
    return WorldSpec(
        seed=5,
        orgs=(OrgSpec(ORG, repos=10, users=8, app_id=APP_ID, installation_id=21),),
        start=START,
        history_days=10,
        future_days=3,
        commits_per_day=12.0,
        prs_per_day=8.0,
    )


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_key_pair()


@dataclass
class Env:
    sim: Simulator
    clock: SimClock
    store: MemorySnapshotStore
    client: GitHubClient
    metrics: SelfMetrics
    missed: list[MissedWindow] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def directory(self, *allowlist: str, client: GitHubClient | None = None) -> RepoDirectory:
        return RepoDirectory(client or self.client, ORG, allowlist=allowlist, include_archived=False)

    def collector(
        self,
        *,
        directory: RepoDirectory | None = None,
        client: GitHubClient | None = None,
        shard: RepoShard = WHOLE_ORG,
    ):
        gh = client or self.client
        directory = directory or self.directory("*", client=gh)

        async def sink(window: MissedWindow) -> None:
            self.missed.append(window)

        return ActivityCollector(
            gh,
            directory,
            self.store,
            org=ORG,
            concurrency=4,
            metrics=self.metrics,
            missed=sink,
            clock=self.clock.now,
            shard=shard,
        )

    def truth(self, repos: set[str] | None = None) -> Values:
        values = activity_truth(self.sim.world, self.clock.now())
        return {k: v for k, v in values.items() if k[0] in ACTIVITY and (repos is None or k[2] in repos)}

    async def exported(self) -> Values:
        keys = [k for k in await self.store.versions() if k.kind == "activity"]
        out: Values = {}
        for snap in (await self.store.get_many(keys)).values():
            for s in snap.samples:
                out[s.name, s.label("org") or "", s.label("repo") or "", s.label("user") or ""] = s.value
        return out

    def cost(self) -> int:
        return self.sim.stats.rate_limited(ORG)


@pytest.fixture
async def env(keys: tuple[str, str]) -> AsyncIterator[Env]:
    clock = SimClock(frozen_at=START)
    async with Simulator(spec(), clock=clock, prewarm=True) as sim, aiohttp.ClientSession() as session:
        sim.add_app(APP_ID, keys[1])
        sleeps: list[float] = []

        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)

        self_metrics = SelfMetrics()
        client = make_client(sim, session, keys[0], clock, self_metrics, sleep)
        yield Env(sim, clock, MemorySnapshotStore(clock=clock.now), client, self_metrics, sleeps=sleeps)


def make_client(
    sim, session, private_pem, clock, self_metrics, sleep, *, max_attempts: int = 3
) -> GitHubClient:
    auth = AppAuth(
        APP_ID,
        21,
        private_pem,
        api_base_url=sim.api_url,
        session=session,
        clock=clock.now,
        user_agent="test",
        api_version="2022-11-28",
    )
    options = ClientOptions(
        base_url=sim.api_url, max_attempts=max_attempts, initial_backoff=0.01, jitter=False
    )
    return GitHubClient(
        options, auth, org=ORG, metrics=self_metrics, session=session, sleep=sleep, clock=clock.now
    )


def repo_of_kind(env: Env, kind: str) -> str:
    return next(info.name for info in env.sim.world.repos(ORG) if info.kind == kind)


def busiest_repo(env: Env, metric: str) -> str:
    """The repo with the most events of ``metric`` in the current window (so a fault there matters)."""
    per: dict[str, float] = {}
    for (name, _, repo, _), value in env.truth().items():
        if name == metric:
            per[repo] = per.get(repo, 0) + value
    return max(per, key=lambda r: per[r])


async def test_first_tick_matches_truth_and_an_idle_tick_is_free(env: Env) -> None:
    """The first cycle reproduces the ground truth exactly; repeating it unchanged costs no budget."""
    collector = env.collector()
    assert await collector.tick()
    truth = env.truth()
    users = {k[3] for k in truth}
    assert {"unlinked_git_author", "github-actions[bot]"} & users  # the world exercises attribution
    assert await env.exported() == truth

    before = env.cost()
    assert await collector.tick()
    assert env.cost() - before == 0
    assert await env.exported() == truth


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([300.0] * 6, id="five-minute-cycles"),
        pytest.param([3 * 3600.0, 10 * 3600.0, 30 * 3600.0, 300.0], id="3h-10h-30h"),
        pytest.param([23.5 * 3600.0, 3600.0, 25 * 3600.0 + 1], id="around-the-window-edge"),
    ],
)
async def test_values_follow_truth_as_time_moves(env: Env, steps: list[float]) -> None:
    """Events enter and leave the rolling window; every cycle still equals the truth at its instant."""
    collector = env.collector()
    assert await collector.tick()
    for step in steps:
        env.clock.advance(step)
        assert await collector.tick()
        assert await env.exported() == env.truth()


async def test_events_age_out_without_requests(env: Env) -> None:
    """Counts drop as events leave the window even when GitHub answers only 304s."""
    collector = env.collector()
    assert await collector.tick()
    # Jump to the end of the world's activity: from there on GitHub has nothing new to say.
    env.clock.set(env.sim.world.spec.last_event_time + 60)
    assert await collector.tick()
    before = env.cost()
    for _ in range(7):  # 28 h: every event leaves the window
        env.clock.advance(4 * 3600.0)
        assert await collector.tick()
        assert await env.exported() == env.truth()
    assert env.cost() - before == 0
    assert await env.exported() == {}


async def test_special_repos(env: Env) -> None:
    """Archived/disabled repos never appear; an empty repo (409) and a repo without PRs are not failures."""
    collector = env.collector()
    assert await collector.tick()
    exported_repos = {k[2] for k in await env.exported()}
    assert repo_of_kind(env, "archived") not in exported_repos
    assert repo_of_kind(env, "disabled") not in exported_repos
    assert collector.failing_repos == {}
    assert env.metrics.value(metrics.SCRAPE_RUNS, {"org": ORG, "result": "success"}) == 1
    selected = len(env.sim.world.repos(ORG)) - 2
    assert env.metrics.value(metrics.ACTIVITY_REPOS, {"org": ORG}) == selected


async def test_allowlist_changes_add_and_remove_repos(env: Env) -> None:
    """A repo entering the selection appears with exact values; one leaving it loses all its series."""
    first = busiest_repo(env, metrics.ACTIVITY_COMMITS.name)
    second = busiest_repo(env, metrics.ACTIVITY_ISSUE_COMMENTS.name)
    if second == first:
        second = next(r for r in {k[2] for k in env.truth()} if r != first and r != repo_of_kind(env, "idle"))
    directory = env.directory(first)
    collector = env.collector(directory=directory)
    assert await collector.tick()
    assert await env.exported() == env.truth({first})

    directory.set_allowlist([first, second])
    env.clock.advance(600)
    assert await collector.tick()
    assert await env.exported() == env.truth({first, second})

    directory.set_allowlist([second])
    env.clock.advance(600)
    assert await collector.tick()
    assert await env.exported() == env.truth({second})
    assert await env.store.get_checkpoint(ledger_name(ORG, first)) is None


async def test_a_removed_repo_is_deleted_once_and_the_store_listed_once_an_hour(env: Env) -> None:
    """Removal happens once (a failed one again next cycle); the store's keys are listed hourly, not per cycle.

    A listing scans the store's whole snapshot index (docs/benchmarks.md, "One key scan an hour"); a
    snapshot another process wrote for a repo this one never selected is found at the next hourly one.
    """
    store = CleanupCountingStore(clock=env.clock.now)
    env.store = store
    first = busiest_repo(env, metrics.ACTIVITY_COMMITS.name)
    second = busiest_repo(env, metrics.ACTIVITY_ISSUE_COMMENTS.name)
    if second == first:
        second = next(r for r in {k[2] for k in env.truth()} if r != first and r != repo_of_kind(env, "idle"))
    directory = env.directory(first, second)
    collector = env.collector(directory=directory)
    assert await collector.tick()
    directory.set_allowlist([second])
    store.failing = 1
    env.clock.advance(600)
    assert await collector.tick()
    assert store.deletes == 1
    assert await store.get_checkpoint(ledger_name(ORG, first)) is not None  # kept for the retry
    env.clock.advance(600)
    assert await collector.tick()
    assert store.deletes == 2
    assert await env.exported() == env.truth({second})
    assert await store.get_checkpoint(ledger_name(ORG, first)) is None
    for _ in range(2):
        env.clock.advance(600)
        assert await collector.tick()
    assert (store.deletes, store.listings) == (2, 1)
    stray = SnapshotKey("activity", (ORG, "written-elsewhere"))
    await store.put(Snapshot(stray, (), env.clock.now()))
    env.clock.advance(3600)
    assert await collector.tick()
    assert store.listings == 2
    assert await store.get_many([stray]) == {}


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(FaultRule("list_pulls", status=500, times=2), id="5xx-twice"),
        pytest.param(FaultRule("list_commits", kind="rate_limit_429", retry_after="30", times=2), id="429"),
        pytest.param(
            FaultRule("list_issue_comments", kind="secondary_403", retry_after="60", times=1), id="secondary"
        ),
        pytest.param(FaultRule("list_reviews", status=502, times=2), id="reviews-5xx"),
    ],
)
async def test_transient_faults_are_retried_and_values_converge(env: Env, rule: FaultRule) -> None:
    """Faults that end within the client's retries leave no trace in the values."""
    env.sim.faults.add(rule)
    collector = env.collector()
    assert await collector.tick()
    assert await env.exported() == env.truth()
    assert env.missed == []
    assert env.sleeps  # the injected sleep took the backoff / Retry-After pauses


def invalid_body_retries(env: Env) -> dict[str, float]:
    """The client's ``reason="invalid_body"`` retries, by endpoint."""
    return {
        s.label("endpoint") or "": s.value
        for s in env.metrics.samples()
        if s.name == metrics.GITHUB_RETRIES.name and s.label("reason") == "invalid_body"
    }


BODY_FAULT_RATE = 0.2


@pytest.mark.parametrize(
    "kind", [pytest.param("truncate", id="cut"), pytest.param("malformed", id="garbled")]
)
async def test_a_fifth_of_bodies_broken_is_retried_to_the_truth_in_one_pass(
    env: Env, keys: tuple[str, str], kind: Literal["truncate", "malformed"]
) -> None:
    """With one body in five cut or garbled on every route (seeded), one cycle equals the truth.

    Five attempts make a request fail only with 0.2**5 odds, so the fixed seed gives a clean pass.
    """
    env.sim.faults.add(FaultRule(kind=kind, probability=BODY_FAULT_RATE))
    async with aiohttp.ClientSession() as session:
        client = make_client(env.sim, session, keys[0], env.clock, env.metrics, _no_sleep, max_attempts=5)
        collector = env.collector(client=client)

        assert await collector.tick()

    assert await env.exported() == env.truth()
    assert env.missed == []
    assert collector.failing_repos == {}
    retried = invalid_body_retries(env)
    assert {"list_org_repos", "list_commits", "list_pulls", "list_issue_comments", "list_reviews"} <= set(
        retried
    )
    served = sum(n for (route, status), n in env.sim.stats.requests.items() if status == 200)
    assert sum(retried.values()) == pytest.approx(BODY_FAULT_RATE * served, rel=0.5)


async def test_bodies_broken_past_the_retries_heal_in_the_next_cycle(env: Env) -> None:
    """With the default three attempts a rare stream stays broken: its window is recorded, the next cycle heals it."""
    env.sim.faults.add(FaultRule(kind="truncate", probability=BODY_FAULT_RATE))
    collector = env.collector()

    assert not await collector.tick()  # this seed breaks one stream three times in a row
    assert env.missed
    assert {w.reason for w in env.missed} <= {
        "activity_commits_failed",
        "activity_pulls_failed",
        "activity_reviews_failed",
        "activity_issue_comments_failed",
    }
    assert invalid_body_retries(env)
    for _ in range(3):
        env.clock.advance(300)
        if await collector.tick():
            break
    assert await env.exported() == env.truth()
    assert collector.failing_repos == {}


@pytest.mark.parametrize(
    ("route", "metric", "reason"),
    [
        pytest.param("commits", metrics.ACTIVITY_COMMITS.name, "activity_commits_failed", id="commits"),
        pytest.param("pulls", metrics.ACTIVITY_PRS_OPENED.name, "activity_pulls_failed", id="pulls"),
        pytest.param(
            r"pulls/\d+/reviews", metrics.ACTIVITY_REVIEWS.name, "activity_reviews_failed", id="reviews"
        ),
        pytest.param(
            "issues/comments",
            metrics.ACTIVITY_ISSUE_COMMENTS.name,
            "activity_issue_comments_failed",
            id="comments",
        ),
    ],
)
async def test_persistent_fault_records_missed_window_and_backfill_restores(
    env: Env, route: str, metric: str, reason: str
) -> None:
    """A stream failing past the retries keeps the old snapshot, records its window, and backfill heals it."""
    collector = env.collector()
    assert await collector.tick()
    kept = await env.exported()
    env.clock.advance(2 * 3600.0)
    repo = busiest_repo(env, metric)
    pattern = rf"/repos/{ORG}/{repo}/{route}(\?|$)"
    env.sim.faults.add(FaultRule(pattern, status=503))
    if route.startswith("pulls/"):
        # Reviews are read only for PRs updated since the checkpoint: start from an empty ledger.
        env.store = MemorySnapshotStore(clock=env.clock.now)
        collector = env.collector()
        kept = {}

    assert not await collector.tick()
    now = env.clock.now()
    exported = await env.exported()
    assert {k: v for k, v in exported.items() if k[2] == repo} == {
        k: v for k, v in kept.items() if k[2] == repo
    }
    others = {k: v for k, v in env.truth().items() if k[2] != repo}
    assert {k: v for k, v in exported.items() if k[2] != repo} == others
    assert [(w.target, w.reason, cast(TimeWindow, w.window).end) for w in env.missed] == [(repo, reason, now)]
    window = cast(TimeWindow, env.missed[0].window)
    assert now - 86400 - 3600 <= window.start < window.end
    assert repo in collector.failing_repos
    assert env.metrics.value(metrics.SCRAPE_RUNS, {"org": ORG, "result": "partial"}) == 1
    stream = reason.removeprefix("activity_").removesuffix("_failed")
    assert env.metrics.value(metrics.ACTIVITY_REPO_FAILURES, {"org": ORG, "stream": stream}) == 1

    with pytest.raises(Exception):  # noqa: B017 - any GitHubError: the queue retries
        await collector.backfill(repo, window)
    env.sim.faults.clear()
    await collector.backfill(repo, window)
    assert await env.exported() == env.truth()
    assert repo not in collector.failing_repos


def repo_with_new_reviews(env: Env, since: float) -> str:
    """A repo with a review submitted after ``since`` (so its PR shows up as updated)."""
    now = env.clock.now()
    for info in env.sim.world.repos(ORG):
        data = env.sim.world.repo(ORG, info.name)
        if info.kind == "normal" and any(
            r.submitted_at is not None and since < r.submitted_at < now
            for rs in data.reviews.values()
            for r in rs
        ):
            return info.name
    raise AssertionError("the world has no new review to fail")


@pytest.mark.parametrize(
    "route",
    [
        pytest.param("commits", id="commits"),
        pytest.param(r"pulls/\d+/reviews", id="reviews"),
        pytest.param("issues/comments", id="comments"),
    ],
)
async def test_next_cycle_heals_a_failed_stream_without_backfill(env: Env, route: str) -> None:
    """A failed stream's checkpoint does not move, so the next good cycle fetches what was missed."""
    collector = env.collector()
    assert await collector.tick()
    before = env.clock.now()
    env.clock.advance(3 * 3600.0)
    repo = repo_with_new_reviews(env, before)
    env.sim.faults.add(FaultRule(rf"/repos/{ORG}/{repo}/{route}(\?|$)", status=500))
    assert not await collector.tick()
    env.sim.faults.clear()
    env.clock.advance(300)
    assert await collector.tick()
    assert await env.exported() == env.truth()


async def test_new_leader_continues_from_the_store(env: Env, keys: tuple[str, str]) -> None:
    """A second collector (fresh process state, same store) continues from the stored ledgers exactly."""
    first = env.collector()
    assert await first.tick()
    env.clock.advance(1800)
    async with aiohttp.ClientSession() as session:
        client = make_client(env.sim, session, keys[0], env.clock, env.metrics, _no_sleep)
        second = env.collector(client=client)
        before = env.cost()
        assert await second.tick()
        assert await env.exported() == env.truth()
        repos = len(env.sim.world.repos(ORG)) - 2
        # One page per stream and repo (no ETags yet) plus reviews of changed PRs: never a re-walk.
        assert env.cost() - before <= 3 * repos + 30
        # The inherited since values lag the window, so they move once (a new URL each); then it is free.
        assert await second.tick()
        before = env.cost()
        assert await second.tick()
        assert env.cost() - before == 0
        assert await env.exported() == env.truth()


async def test_listing_failure_keeps_every_snapshot(env: Env) -> None:
    """When the repo listing fails the cycle fails and nothing is deleted or rewritten."""
    collector = env.collector()
    assert await collector.tick()
    kept = await env.exported()
    env.sim.faults.add(FaultRule("list_org_repos", status=500))
    env.clock.advance(3600)
    assert not await collector.tick()
    assert await env.exported() == kept
    assert env.metrics.value(metrics.SCRAPE_RUNS, {"org": ORG, "result": "failure"}) == 1


async def _no_sleep(seconds: float) -> None:
    return None


async def test_shards_of_one_org_together_match_truth_and_split_the_repos(env: Env) -> None:
    """Three shards of one org write disjoint repos that together equal the truth, and never delete each other's."""
    shards = [env.collector(shard=RepoShard(i, 3)) for i in range(3)]
    written: list[set[str]] = []
    for collector in shards:
        before = {k.parts[1] for k in await env.store.versions() if k.kind == "activity"}
        assert await collector.tick()
        after = {k.parts[1] for k in await env.store.versions() if k.kind == "activity"}
        assert before <= after
        written.append(after - before)
    assert all(written)
    selected = {r.name for r in await env.directory("*").repos()}
    assert sum(len(w) for w in written) == len(set().union(*written)) == len(selected)
    assert await env.exported() == env.truth()

    env.clock.advance(3600)
    for collector in reversed(shards):
        assert await collector.tick()
    assert await env.exported() == env.truth()


class CountingStore(MemorySnapshotStore):
    """The memory store, counting ledger reads one by one and in batches, and ledger writes; batches
    fail when told to."""

    def __init__(self, *, clock: SimClock, batches_fail: bool = False) -> None:
        super().__init__(clock=clock.now)
        self.single = 0
        self.batched = 0
        self.written = 0
        self.batches_fail = batches_fail

    async def set_checkpoint(self, name: str, data: bytes, ttl_seconds: float | None = None) -> None:
        self.written += 1
        await super().set_checkpoint(name, data, ttl_seconds)

    async def get_checkpoint(self, name: str) -> bytes | None:
        self.single += 1
        return await super().get_checkpoint(name)

    async def get_checkpoints(self, names: Sequence[str]) -> dict[str, bytes]:
        self.batched += 1
        if self.batches_fail:
            msg = "redis: ConnectionError: reset"
            raise StoreUnavailable(msg)
        return await super().get_checkpoints(names)


def collector_on(env: Env, store: MemorySnapshotStore) -> ActivityCollector:
    async def sink(window: MissedWindow) -> None:
        env.missed.append(window)

    return ActivityCollector(
        env.client,
        env.directory("*"),
        store,
        org=ORG,
        concurrency=4,
        metrics=env.metrics,
        missed=sink,
        clock=env.clock.now,
    )


async def test_a_cycle_reads_every_ledger_in_one_store_call(env: Env) -> None:
    """A cycle reads the ledgers of all its repositories in one batched store call; one by one only the
    revision of a ledger it is about to write (did another process write it since?)."""
    store = CountingStore(clock=env.clock)
    collector = collector_on(env, store)
    assert await collector.tick()
    env.clock.advance(300)
    store.single = store.batched = store.written = 0
    assert await collector.tick()
    assert store.batched == 1
    assert store.single == store.written < len(env.sim.world.repos(ORG))
    keys = [k for k in await store.versions() if k.kind == "activity"]
    exported = {
        (s.name, s.label("org") or "", s.label("repo") or "", s.label("user") or ""): s.value
        for snap in (await store.get_many(keys)).values()
        for s in snap.samples
    }
    assert exported == env.truth()


async def test_a_failed_batched_read_falls_back_to_one_read_per_repository(env: Env) -> None:
    """When the batched ledger read fails, each repository reads its own ledger and the cycle still succeeds."""
    store = CountingStore(clock=env.clock, batches_fail=True)
    collector = collector_on(env, store)
    assert await collector.tick()
    env.clock.advance(300)
    store.single = 0
    assert await collector.tick()
    assert store.single == len(env.sim.world.repos(ORG)) - sum(
        1 for info in env.sim.world.repos(ORG) if info.archived or info.disabled
    )
