"""Rate-limited GitHub requests per steady-state activity cycle: our collector vs the naive strategy.

The reference workload: 2 orgs x 150 repos on the simulator, ~90 days of history (hundreds of PRs per
repo), realistic daily activity, a 5-minute scrape interval. Both strategies run a warm-up cycle and
then steady-state cycles at the same simulated instants; the simulator counts every request that
consumed primary rate-limit budget (304s are free). The naive strategy is what the Go exporter does
(docs/benchmarks.md): walk every PR page, one reviews call per PR touched in the window, issue comments and
commits since now-24h, stats/contributors every cycle, no conditional requests.

Run: ``python -m benchmarks activity_requests`` (about a minute).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from benchmarks._activity_world import activity_collector, world_client
from github_stats_exporter.github.activity import iso_utc
from github_stats_exporter.github.client import GitHubClient, next_link
from github_stats_exporter.github.payload import parse_time
from github_stats_exporter.github.ratelimit import header
from github_stats_exporter.model import MissedWindow
from github_stats_exporter.scrape.activity import ActivityCollector
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.store.memory import MemorySnapshotStore

START = 1_780_000_000.0
INTERVAL = 300.0
TOKEN = "ghp_benchmark"  # noqa: S105 - a simulator-only token
ORGS = ("acme-corp", "globex")
REPOS_PER_ORG = 150
CONCURRENCY = 8
OUR_CYCLES = 12
NAIVE_CYCLES = 3
IDLE_CYCLES = 6
DAY = 86400.0


def reference_spec() -> WorldSpec:
    return WorldSpec(
        seed=42,
        orgs=tuple(
            OrgSpec(name, repos=REPOS_PER_ORG, users=40, app_id=1, installation_id=10 + i)
            for i, name in enumerate(ORGS)
        ),
        start=START,
        history_days=90,
        future_days=2,
        commits_per_day=8.0,
        prs_per_day=5.0,
    )


def _client(sim: Simulator, session: aiohttp.ClientSession, org: str, clock: SimClock) -> GitHubClient:
    return world_client(sim, session, org, clock, etag_cache_entries=50_000)


# --- our collector ------------------------------------------------------------------------------


async def run_ours(sim: Simulator, session: aiohttp.ClientSession) -> tuple[list[int], list[float]]:
    clock = sim.clock
    clock.set(START)
    store = MemorySnapshotStore(clock=clock.now)
    collectors = [
        activity_collector(_client(sim, session, org, clock), store, org, clock, concurrency=CONCURRENCY)
        for org in ORGS
    ]
    await asyncio.gather(*(c.tick() for c in collectors))  # warm-up: the last 24h + margin
    costs: list[int] = []
    seconds: list[float] = []
    for _ in range(OUR_CYCLES):
        clock.advance(INTERVAL)
        before = sim.stats.rate_limited()
        started = time.perf_counter()
        ok = await asyncio.gather(*(c.tick() for c in collectors))
        seconds.append(time.perf_counter() - started)
        costs.append(sim.stats.rate_limited() - before)
        assert all(ok)
    return costs, seconds


async def _ignore_missed(window: MissedWindow) -> None:
    return None


async def idle_repo_cost(sim: Simulator, session: aiohttp.ClientSession) -> int:
    """Requests that cost budget for the idle special repo over several cycles (listing excluded)."""
    clock = sim.clock
    clock.set(START)
    org = ORGS[0]
    idle = next(info.name for info in sim.world.repos(org) if info.kind == "idle")
    client = _client(sim, session, org, clock)
    directory = RepoDirectory(client, org, allowlist=[idle], include_archived=False)
    collector = ActivityCollector(
        client,
        directory,
        MemorySnapshotStore(clock=clock.now),
        org=org,
        concurrency=1,
        metrics=SelfMetrics(),
        missed=_ignore_missed,
        clock=clock.now,
    )
    await collector.tick()
    routes = ("list_commits", "list_pulls", "list_reviews", "list_issue_comments", "contributor_stats")

    def charged() -> int:
        return sum(
            n for (route, status), n in sim.stats.requests.items() if route in routes and status != 304
        )

    before = charged()
    for _ in range(IDLE_CYCLES):
        clock.advance(INTERVAL)
        await collector.tick()
    return charged() - before


# --- the naive strategy -------------------------------------------------------------------------


async def _pages(
    client: GitHubClient,
    path: str,
    endpoint: str,
    params: Mapping[str, str | int],
    accept: tuple[int, ...] = (200,),
) -> list[Any]:
    items: list[Any] = []
    target: str = path
    query: Mapping[str, str | int] | None = params
    while True:
        response = await client.get(target, endpoint=endpoint, params=query, accept=accept, conditional=False)
        data = response.data
        if isinstance(data, dict):
            data = data.get("repositories", [])
        if isinstance(data, list):
            items.extend(data)
        following = next_link(header(response.headers, "link"))
        if following is None or not data:
            return items
        target, query = following, None


async def naive_repo(client: GitHubClient, org: str, repo: str, now: float) -> None:
    base = f"/repos/{org}/{repo}"
    since = now - DAY
    window = {"since": iso_utc(since), "until": iso_utc(now)}
    await _pages(client, f"{base}/commits", "list_commits", {"per_page": 100, **window}, accept=(200, 409))
    pulls = await _pages(
        client,
        f"{base}/pulls",
        "list_pulls",
        {"state": "all", "sort": "updated", "direction": "desc", "per_page": 100},
    )
    for pr in pulls:
        times = [parse_time(pr.get(k)) for k in ("created_at", "updated_at", "merged_at")]
        if any(t is not None and since <= t <= now for t in times):
            await _pages(client, f"{base}/pulls/{pr['number']}/reviews", "list_reviews", {"per_page": 100})
    await _pages(
        client, f"{base}/issues/comments", "list_issue_comments", {"per_page": 100, "since": iso_utc(since)}
    )
    await client.get(
        f"{base}/stats/contributors", endpoint="contributor_stats", accept=(200, 202, 204), conditional=False
    )


async def naive_cycle(client: GitHubClient, org: str, now: float) -> None:
    repos = await _pages(client, f"/orgs/{org}/repos", "list_org_repos", {"per_page": 100, "type": "all"})
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> None:
        async with gate:
            await naive_repo(client, org, name, now)

    await asyncio.gather(*(one(r["name"]) for r in repos))


async def run_naive(sim: Simulator, session: aiohttp.ClientSession) -> list[int]:
    clock = sim.clock
    clock.set(START)
    clients = {org: _client(sim, session, org, clock) for org in ORGS}
    await asyncio.gather(*(naive_cycle(clients[o], o, clock.now()) for o in ORGS))
    costs: list[int] = []
    for _ in range(NAIVE_CYCLES):
        clock.advance(INTERVAL)
        before = sim.stats.rate_limited()
        await asyncio.gather(*(naive_cycle(clients[o], o, clock.now()) for o in ORGS))
        costs.append(sim.stats.rate_limited() - before)
    return costs


# --- report -------------------------------------------------------------------------------------


async def run() -> None:
    spec = reference_spec()
    built = time.perf_counter()
    async with (
        Simulator(spec, clock=SimClock(frozen_at=START), prewarm=True, rate_limit=10**9) as sim,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session,
    ):
        sim.add_token(TOKEN, list(ORGS))
        prs = [len(sim.world.repo(o, i.name).pulls) for o in ORGS for i in sim.world.repos(o)]
        print(
            f"workload: {len(ORGS)} orgs x {REPOS_PER_ORG} repos, PRs per repo median "
            f"{statistics.median(prs):.0f} (max {max(prs)}), world built in {time.perf_counter() - built:.1f}s"
        )
        ours, seconds = await run_ours(sim, session)
        idle = await idle_repo_cost(sim, session)
        naive = await run_naive(sim, session)
    ours_mean = statistics.mean(ours)
    naive_mean = statistics.mean(naive)
    print(
        f"steady-state cycles every {INTERVAL:.0f}s (simulated), rate-limited requests per cycle (both orgs):"
    )
    print(f"  exporter: mean {ours_mean:.1f}  min {min(ours)}  max {max(ours)}  ({OUR_CYCLES} cycles)")
    print(f"  naive:    mean {naive_mean:.1f}  min {min(naive)}  max {max(naive)}  ({NAIVE_CYCLES} cycles)")
    print(f"  ratio naive/exporter: {naive_mean / max(ours_mean, 1e-9):.1f}x")
    print(f"  idle repo: {idle} rate-limited requests over {IDLE_CYCLES} cycles")
    print(
        f"  exporter cycle wall time (300 repos, loopback simulator): median {statistics.median(seconds):.2f}s"
    )


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
