"""LocCollector against a scripted GitHub: status sequences, failures, budgets, caps, cleanup, idle repos."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.support.cleanup_store import CleanupCountingStore

from github_stats_exporter import metrics
from github_stats_exporter.config import LocConfig
from github_stats_exporter.errors import permanent_cause
from github_stats_exporter.github.auth import Auth, TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.errors import AuthError, Forbidden, ServerError
from github_stats_exporter.model import MissedWindow, Snapshot, SnapshotKey, TimeWindow
from github_stats_exporter.scrape.loc import LocCollectionError, LocCollector
from github_stats_exporter.scrape.locstate import FALLBACK, WEEK_SECONDS, LocState, loc_week
from github_stats_exporter.scrape.repos import Repo
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore

ORG = "acme"
NOW = datetime(2026, 5, 27, 10, 30, tzinfo=UTC).timestamp()  # a Wednesday
W = loc_week(NOW)
Answer = tuple[int, Any]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedGitHub:
    """Answers per path in order, repeating the last answer; counts hits per path."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Answer]] = {}
        self.hits: Counter[str] = Counter()
        self.server: TestServer | None = None

    def on(self, path: str, *answers: Answer) -> None:
        self.routes[path] = list(answers)

    def stats(self, repo: str, *answers: Answer) -> None:
        self.on(f"/repos/{ORG}/{repo}/stats/contributors", *answers)

    def stats_hits(self, repo: str) -> int:
        return self.hits[f"/repos/{ORG}/{repo}/stats/contributors"]

    def detail_hits(self) -> int:
        return sum(n for path, n in self.hits.items() if "/commits/" in path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        answers = self.routes.get(request.path)
        if not answers:
            return web.json_response({"message": "Not Found"}, status=404)
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        await self.server.start_server()
        return str(self.server.make_url(""))

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()


class Directory:
    """Stands in for RepoDirectory: a settable list of repos, or a failing listing."""

    def __init__(self, names: list[str], pushed_at: float | None = None) -> None:
        self.list = [Repo(ORG, n, False, False, "main", pushed_at) for n in names]
        self.failing = False

    async def repos(self) -> list[Repo]:
        if self.failing:
            raise ServerError(502, "bad gateway", "list_org_repos", "/orgs/acme/repos")
        return list(self.list)


def stats_payload(*cells: tuple[str | None, int, int, int], week: int = W) -> list[dict[str, Any]]:
    return [
        {
            "author": None if login is None else {"login": login, "id": 1, "type": "User"},
            "total": c,
            "weeks": [
                {"w": week - WEEK_SECONDS, "a": 99, "d": 99, "c": 1},
                {"w": week, "a": a, "d": d, "c": c},
            ],
        }
        for login, a, d, c in cells
    ]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def commit_item(sha: str, at: float, login: str = "ana") -> dict[str, Any]:
    return {
        "sha": sha,
        "commit": {"author": {"name": login, "email": "x@example.com", "date": iso(at)}},
        "author": {"login": login},
        "parents": [{"sha": "p"}],
    }


def detail(sha: str, a: int, d: int, login: str = "ana") -> Answer:
    return 200, {
        "sha": sha,
        "author": {"login": login},
        "stats": {"additions": a, "deletions": d, "total": a + d},
    }


@dataclass
class Rig:
    gh: ScriptedGitHub
    clock: Clock
    store: MemorySnapshotStore
    self_metrics: SelfMetrics
    directory: Directory
    collector: LocCollector
    make: Callable[..., LocCollector]
    missed: list[MissedWindow] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    async def values(self, repo: str) -> dict[tuple[str, ...], float] | None:
        key = SnapshotKey("loc", (ORG, repo))
        snap = (await self.store.get_many([key])).get(key)
        if snap is None:
            return None
        return {
            (s.name, *(v for k, v in s.labels if k not in ("org", "repo"))): s.value for s in snap.samples
        }

    async def state(self, repo: str) -> LocState:
        return LocState.from_record(await self.store.get_checkpoint(f"loc/{ORG}/{repo}/state"))


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig() -> AsyncIterator[RigFactory]:
    async with AsyncExitStack() as stack:

        async def factory(
            repos: list[str],
            *,
            concurrency: int = 4,
            pushed_at: float | None = None,
            auth: Auth | None = None,
            health: HealthLog | None = None,
            store_class: type[MemorySnapshotStore] = MemorySnapshotStore,
            **loc: Any,
        ) -> Rig:
            gh = ScriptedGitHub()
            url = await gh.start()
            stack.push_async_callback(gh.close)
            clock = Clock(NOW)
            self_metrics = SelfMetrics()
            sleeps: list[float] = []

            async def sleep(seconds: float) -> None:
                sleeps.append(seconds)

            client = GitHubClient(
                ClientOptions(base_url=url, max_attempts=2, initial_backoff=0.001, jitter=False),
                auth or TokenAuth("ghp_unit"),
                org=ORG,
                metrics=self_metrics,
                sleep=sleep,
                clock=clock,
                rng=random.Random(3),
            )
            await stack.enter_async_context(client)
            store = store_class(clock=clock)
            directory = Directory(repos, pushed_at)
            missed: list[MissedWindow] = []

            async def record(window: MissedWindow) -> None:
                missed.append(window)

            def make(**overrides: Any) -> LocCollector:
                settings = LocConfig(**{**loc, **overrides})
                return LocCollector(
                    client,
                    directory,
                    store,
                    org=ORG,
                    settings=settings,
                    concurrency=concurrency,
                    metrics=self_metrics,
                    missed=record,
                    clock=clock,
                    sleep=sleep,
                    health=health,
                )

            return Rig(gh, clock, store, self_metrics, directory, make(), make, missed, sleeps)

        yield factory


ADDED, REMOVED = metrics.ACTIVITY_LOC_ADDED.name, metrics.ACTIVITY_LOC_REMOVED.name
PAYLOAD = stats_payload(("ana", 10, 2, 3), (None, 4, 1, 1), (None, 1, 0, 1), ("bob", 0, 0, 0))
EXPECTED = {
    (ADDED, "ana"): 10,
    (REMOVED, "ana"): 2,
    (ADDED, "unknown"): 5,
    (REMOVED, "unknown"): 1,
    (metrics.LOC_SOURCE_MODE.name, "stats_contributors"): 1,
    (metrics.LOC_SOURCE_MODE.name, "sampled_commit_stats"): 0,
    (metrics.LOC_FALLBACK_INCOMPLETE.name,): 0,
}


@pytest.mark.parametrize(
    ("answers", "published", "ok", "warming", "missed", "hits", "sleeps"),
    [
        pytest.param([(200, PAYLOAD)], True, True, False, [], 1, [], id="200"),
        pytest.param([(202, {}), (200, PAYLOAD)], True, True, False, [], 2, [2.0], id="202-then-200"),
        pytest.param([(202, {})], False, True, True, [], 4, [2.0, 4.0, 8.0], id="202-throughout"),
        pytest.param([(204, None)], False, True, False, [], 1, [], id="204-empty-repo"),
        pytest.param(
            [(500, {"message": "boom"})],
            False,
            False,
            False,
            ["contributor_stats_failed"],
            2,
            [0.001],
            id="5xx",
        ),
        pytest.param(
            [(404, {"message": "Not Found"})], False, False, False, [], 1, [], id="404-not-for-backfill"
        ),
    ],
)
async def test_stats_status_sequences(
    rig: RigFactory,
    answers: list[Answer],
    published: bool,
    ok: bool,
    warming: bool,
    missed: list[str],
    hits: int,
    sleeps: list[float],
) -> None:
    """200 publishes, 202 is re-polled with backoff, 204 is empty (no failure), 5xx/404 fail (only 5xx is recorded)."""
    r = await rig(["web"])
    r.gh.stats("web", *answers)
    assert await r.collector.tick() is ok
    assert (await r.values("web") == EXPECTED) is published
    if not published:
        assert await r.values("web") is None
    assert (r.collector.warming == {"web"}) is warming
    assert (await r.state("web")).warming is warming
    assert [m.reason for m in r.missed] == missed
    assert all(m.window == TimeWindow(W, W + WEEK_SECONDS) for m in r.missed)
    assert r.gh.stats_hits("web") == hits
    assert r.sleeps == sleeps


async def test_leftover_warming_is_repolled_next_cycle_without_backfill(rig: RigFactory) -> None:
    """A repo still computing after the tick's re-polls is asked again on the next cycle, not failed or backfilled."""
    r = await rig(["web"])
    r.gh.stats("web", (202, {}), (202, {}), (202, {}), (202, {}), (200, PAYLOAD))
    assert await r.collector.tick() is True
    assert r.collector.warming == {"web"}
    fresh = r.make()  # a restarted leader reads the pending 202 from the store
    assert await fresh.tick() is True
    assert await r.values("web") == EXPECTED
    assert r.missed == []
    assert r.self_metrics.value(metrics.LOC_REFRESHES, {"org": ORG, "result": "warming"}) == 4


async def test_failure_keeps_the_previous_snapshot(rig: RigFactory) -> None:
    """A refresh failing after retries leaves the old snapshot (same version) and reports the repo as failed."""
    r = await rig(["web"])
    r.gh.stats("web", (200, PAYLOAD), (502, {"message": "bad gateway"}))
    await r.collector.tick()
    before = (await r.store.versions())[SnapshotKey("loc", (ORG, "web"))]
    r.clock.now += 86400
    assert await r.collector.tick() is False
    assert (await r.store.versions())[SnapshotKey("loc", (ORG, "web"))] == before
    assert r.collector.failed == {"web"}
    assert r.self_metrics.value(metrics.LOC_REPOS_FAILED, {"org": ORG}) == 1
    assert (await r.state("web")).failed


async def test_refresh_interval_skips_requests(rig: RigFactory) -> None:
    """Within loc.refresh_interval a repo costs no request; after it, one."""
    r = await rig(["web"], refresh_interval="6h")
    r.gh.stats("web", (200, PAYLOAD))
    await r.collector.tick()
    r.clock.now += 5 * 3600
    await r.collector.tick()
    assert r.gh.stats_hits("web") == 1
    r.clock.now += 3600
    await r.collector.tick()
    assert r.gh.stats_hits("web") == 2


async def test_malformed_items_are_counted_and_skipped(rig: RigFactory) -> None:
    """Garbage entries and cells are counted in a self-metric; the well-formed rest is published."""
    r = await rig(["web"])
    payload = [*PAYLOAD, "garbage", {"author": None, "weeks": [{"w": W, "a": "x", "d": 1, "c": 1}]}]
    r.gh.stats("web", (200, payload))
    assert await r.collector.tick() is True
    assert await r.values("web") == EXPECTED
    assert (
        r.self_metrics.value(metrics.LOC_MALFORMED_ITEMS, {"org": ORG, "endpoint": "contributor_stats"}) == 2
    )


async def test_repos_that_leave_the_listing_are_deleted(rig: RigFactory) -> None:
    """A repo gone from the listing loses its snapshot, its state and its commit caches; the others keep theirs."""
    r = await rig(["web", "api"])
    r.gh.stats("web", (200, PAYLOAD))
    r.gh.stats("api", (200, PAYLOAD))
    await r.collector.tick()
    await r.store.set_checkpoint(f"loc/{ORG}/api/commits/{W}", b"{}")
    await r.store.set_checkpoint(f"loc/{ORG}/web/commits/{W}", b"{}")
    r.directory.list = [x for x in r.directory.list if x.name == "web"]
    await r.collector.tick()
    assert await r.values("api") is None
    assert await r.store.get_checkpoint(f"loc/{ORG}/api/state") is None
    assert await r.store.checkpoint_names(f"loc/{ORG}/") == [
        f"loc/{ORG}/web/commits/{W}",
        f"loc/{ORG}/web/state",
    ]
    assert await r.values("web") == EXPECTED


async def test_the_store_keys_are_listed_once_an_hour(rig: RigFactory) -> None:
    """Only a pass an hour lists the org's stored snapshots; the others still delete what left the listing.

    A listing scans the store's whole snapshot index (in Redis: one blocking script per call), so a
    pass per unit per cycle cost seconds of Redis CPU at 20 x 1,000 (docs/benchmarks.md).
    """
    r = await rig(["web", "api", "docs"], store_class=CleanupCountingStore)
    for repo in ("web", "api", "docs"):
        r.gh.stats(repo, (200, PAYLOAD))
    # A snapshot written before this process started (by an earlier leader) of a repo no longer listed.
    await r.store.put(Snapshot(SnapshotKey("loc", (ORG, "old")), (), NOW))
    assert await r.collector.tick() is True
    assert (await r.store.get_many([SnapshotKey("loc", (ORG, "old"))])) == {}
    for _ in range(3):
        r.clock.now += 600
        assert await r.collector.tick() is True
    r.directory.list = [x for x in r.directory.list if x.name != "api"]
    r.clock.now += 600
    await r.collector.tick()
    store = r.store
    assert isinstance(store, CleanupCountingStore)
    assert store.listings == 1
    assert await r.values("api") is None
    assert await r.values("web") == EXPECTED
    # Another replica held the unit meanwhile and wrote a repo this process never listed.
    await r.store.put(Snapshot(SnapshotKey("loc", (ORG, "brief")), (), r.clock.now))
    r.clock.now += 3600
    await r.collector.tick()
    assert store.listings == 2
    assert (await r.store.get_many([SnapshotKey("loc", (ORG, "brief"))])) == {}


async def test_a_removal_that_fails_is_tried_again_next_pass(rig: RigFactory) -> None:
    """A repo whose snapshot could not be deleted (store down) is deleted by the next pass; the pass goes on."""
    r = await rig(["web", "api"], store_class=CleanupCountingStore)
    r.gh.stats("web", (200, PAYLOAD))
    r.gh.stats("api", (200, PAYLOAD))
    await r.collector.tick()
    store = r.store
    assert isinstance(store, CleanupCountingStore)
    store.failing = 1
    r.directory.list = [x for x in r.directory.list if x.name == "web"]
    assert await r.collector.tick() is True, "the failed removal ended the pass"
    assert await r.values("api") == EXPECTED
    r.clock.now += 600
    await r.collector.tick()
    assert await r.values("api") is None
    assert await r.store.get_checkpoint(f"loc/{ORG}/api/state") is None
    assert store.listings == 1


async def test_a_store_that_cannot_list_its_keys_delays_the_cleanup_not_the_pass(rig: RigFactory) -> None:
    """The listing of stored snapshots fails: the pass still collects, and the next pass lists again."""
    r = await rig(["web"], store_class=CleanupCountingStore)
    r.gh.stats("web", (200, PAYLOAD))
    store = r.store
    assert isinstance(store, CleanupCountingStore)
    store.listing_fails = True
    assert await r.collector.tick() is True
    assert await r.values("web") == EXPECTED
    store.listing_fails = False
    await r.collector.tick()
    assert store.listings == 2, "a failed listing waited an hour instead of one pass"


async def test_idle_repo_costs_no_request(rig: RigFactory) -> None:
    """A repo last pushed before the selected week began cannot have LOC in it: no request, no series."""
    r = await rig(["web"], pushed_at=W - 1)
    assert await r.collector.tick() is True
    assert r.gh.stats_hits("web") == 0
    assert await r.values("web") is None


def _sampling(r: Rig, repo: str, commits: list[tuple[str, int, int]], *, offset: int = 0) -> None:
    """Script a repo already in fallback mode: its week's commits and their details."""
    items = [commit_item(sha, W + offset + i * 60) for i, (sha, _, _) in enumerate(commits)]
    r.gh.on(f"/repos/{ORG}/{repo}/commits", (200, items))
    for sha, a, d in commits:
        r.gh.on(f"/repos/{ORG}/{repo}/commits/{sha}", detail(sha, a, d))


async def _enter_fallback(r: Rig, *repos: str) -> None:
    for repo in repos:
        state = LocState(mode=FALLBACK, fallback_until=NOW + 86400 * 7, zero_windows=2)
        await r.store.set_checkpoint(f"loc/{ORG}/{repo}/state", state.to_record())


SAMPLING = {
    "fallback_enabled": True,
    "large_repo_zero_detection_windows": 2,
    "fallback_max_commit_detail_calls_per_org_per_hour": 4,
}


async def test_budget_is_shared_per_org_and_clock_hour_and_survives_a_new_leader(rig: RigFactory) -> None:
    """The hourly detail budget is shared by the org's repos, kept in the store, and renews at the next clock hour."""
    r = await rig(["a", "b"], concurrency=1, **SAMPLING)
    await _enter_fallback(r, "a", "b")
    _sampling(r, "a", [("a1", 1, 0), ("a2", 2, 0), ("a3", 3, 0)])
    _sampling(r, "b", [("b1", 10, 1), ("b2", 20, 2), ("b3", 30, 3)])
    await r.collector.tick()
    assert r.gh.detail_hits() == 4
    assert (await r.values("a") or {})[metrics.LOC_FALLBACK_INCOMPLETE.name,] == 0
    b = await r.values("b") or {}
    assert (b[ADDED, "ana"], b[metrics.LOC_FALLBACK_INCOMPLETE.name,]) == (10, 1)
    assert r.self_metrics.value(metrics.LOC_FALLBACK_BUDGET_EXHAUSTED, {"org": ORG}) == 1
    # A new leader in the same hour finds the budget spent: no listing, no details.
    listings = r.gh.hits[f"/repos/{ORG}/b/commits"]
    await r.make().tick()
    assert (r.gh.detail_hits(), r.gh.hits[f"/repos/{ORG}/b/commits"]) == (4, listings)
    r.clock.now += 3600
    await r.make().tick()
    assert r.gh.detail_hits() == 6  # only the two missing commits; cached ones are not fetched again
    b = await r.values("b") or {}
    assert (b[ADDED, "ana"], b[REMOVED, "ana"], b[metrics.LOC_FALLBACK_INCOMPLETE.name,]) == (60, 6, 0)


async def test_per_week_cap_marks_values_partial(rig: RigFactory) -> None:
    """More commits than fallback_max_commits_per_repo_per_week: only the cap is detailed and the value is partial."""
    r = await rig(["a"], **{**SAMPLING, "fallback_max_commits_per_repo_per_week": 2})
    await _enter_fallback(r, "a")
    _sampling(r, "a", [("a1", 1, 0), ("a2", 2, 0), ("a3", 3, 0)])
    await r.collector.tick()
    values = await r.values("a") or {}
    assert (values[ADDED, "ana"], values[metrics.LOC_FALLBACK_INCOMPLETE.name,]) == (3, 1)
    assert r.gh.detail_hits() == 2
    assert not (await r.state("a")).more  # the cap is final for the week: no work left for later cycles


async def test_backfill_raises_on_failure_without_recording_again(rig: RigFactory) -> None:
    """backfill() recomputes now, raises LocCollectionError on failure and does not enqueue another backfill."""
    r = await rig(["web"])
    r.gh.stats("web", (500, {"message": "boom"}))
    with pytest.raises(LocCollectionError) as caught:
        await r.collector.backfill("web")
    assert isinstance(caught.value.__cause__, ServerError)  # the cause decides: retried, not dead-lettered
    assert r.missed == []
    r.gh.stats("web", (200, PAYLOAD))
    await r.collector.backfill("web")
    assert await r.values("web") == EXPECTED
    assert r.collector.failed == frozenset()


class FailingExchange:
    """An App whose installation-token exchange fails with the given status."""

    def __init__(self, status: int) -> None:
        self.status = status

    async def authorization(self) -> str:
        raise AuthError(self.status, "token exchange failed")

    def invalidate(self) -> None:
        return None


@pytest.mark.parametrize(
    ("status", "missed"),
    [
        pytest.param(502, ["contributor_stats_failed"], id="transient-exchange-recorded"),
        pytest.param(401, [], id="bad-credentials-not-recorded"),
    ],
)
async def test_a_transient_token_exchange_failure_is_recorded_for_backfill(
    rig: RigFactory, status: int, missed: list[str]
) -> None:
    """A 5xx from the token exchange is curable like a 5xx from the API; a refused App key is not."""
    r = await rig(["web"], auth=FailingExchange(status))
    r.gh.stats("web", (200, PAYLOAD))
    assert await r.collector.tick() is False
    assert [m.reason for m in r.missed] == missed


class HealthLog:
    """Records what a collector reports (the `HealthReport` port)."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str, bool, str]] = []

    def report(self, component: str, member: str, healthy: bool, detail: str = "") -> None:
        self.reports.append((component, member, healthy, detail))


async def test_the_collector_reports_its_own_health_each_tick(rig: RigFactory) -> None:
    """A failed repo makes loc:<org> unhealthy naming it; a failed listing too; each tick reports once."""
    log = HealthLog()
    r = await rig(["web"], health=log)
    r.gh.stats("web", (500, {"message": "boom"}))
    assert await r.collector.tick() is False
    r.directory.failing = True
    assert await r.collector.tick() is False
    assert r.collector.health_component == "loc:acme"
    assert [(c, m, ok) for c, m, ok, _ in log.reports] == [("loc:acme", "", False), ("loc:acme", "", False)]
    assert log.reports[0][3] == "failed: web"
    assert log.reports[1][3].startswith("repository listing:")


async def test_a_backfill_refused_with_a_plain_403_is_permanent(rig: RigFactory) -> None:
    """A permission error chains under LocCollectionError, so the backfill handler dead-letters the job."""
    r = await rig(["web"])
    r.gh.stats("web", (403, {"message": "Resource not accessible by integration"}))
    with pytest.raises(LocCollectionError) as caught:
        await r.collector.backfill("web")
    assert isinstance(permanent_cause(caught.value), Forbidden)


class CountingStore(MemorySnapshotStore):
    """The memory store, counting state reads one by one and in batches."""

    single = 0
    batched = 0

    async def get_checkpoint(self, name: str) -> bytes | None:
        self.single += 1
        return await super().get_checkpoint(name)

    async def get_checkpoints(self, names: Sequence[str]) -> dict[str, bytes]:
        self.batched += 1
        return await super().get_checkpoints(names)


async def test_a_pass_reads_the_states_of_its_repos_in_one_store_call(rig: RigFactory) -> None:
    """A tick over repos that are not due reads all their states in one batched call and sends no request."""
    r = await rig(["web", "api", "docs"], store_class=CountingStore)
    for repo in ("web", "api", "docs"):
        r.gh.stats(repo, (200, PAYLOAD))
    assert await r.collector.tick() is True
    store = r.store
    assert isinstance(store, CountingStore)
    store.single = store.batched = 0
    r.clock.now += 3600
    assert await r.collector.tick() is True
    assert (store.batched, store.single) == (1, 0)
    assert [r.gh.stats_hits(repo) for repo in ("web", "api", "docs")] == [1, 1, 1]
    assert await r.values("api") == EXPECTED
