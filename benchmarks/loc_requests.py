"""Weekly LOC request cost: stats/contributors calls per simulated day for 300 repos, 24h refresh vs every cycle.

Runs the real `LocCollector` (real client, real `RepoDirectory`, memory store) against the simulator for one
simulated day of 5-minute cycles, once with ``loc.refresh_interval: 24h`` and once with ``5m`` (what the Go
exporter effectively does: stats on every cycle), and prints the simulator's own request counts.
Run: ``python -m benchmarks loc_requests`` (or ``python -m benchmarks.loc_requests``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import timedelta

import aiohttp

from github_stats_exporter.config import LocConfig
from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.model import MissedWindow
from github_stats_exporter.scrape.loc import LocCollector
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.store.memory import MemorySnapshotStore

ORG = "bench-org"
REPOS = 300
CYCLE = 300.0
DAY = 86400.0
START = 1_780_000_000.0


async def _no_sleep(_: float) -> None:
    return None


async def run(refresh: timedelta, *, cycles: int) -> tuple[Counter[int], int, float]:
    """(stats answers by status, rate-limited requests of all kinds, wall seconds) for ``cycles`` cycles."""
    spec = WorldSpec(seed=5, orgs=(OrgSpec(ORG, repos=REPOS, users=60),), start=START)
    clock = SimClock(frozen_at=START)
    sim = Simulator(spec, clock=clock, prewarm=True, rate_limit=10**9)
    sim.add_token("ghp_bench", [ORG])
    async with sim, aiohttp.ClientSession() as session:
        self_metrics = SelfMetrics()
        options = ClientOptions(base_url=sim.api_url, jitter=False)
        client = GitHubClient(
            options,
            TokenAuth("ghp_bench"),
            org=ORG,
            metrics=self_metrics,
            session=session,
            sleep=_no_sleep,
            clock=clock.now,
            rng=random.Random(1),
        )
        store = MemorySnapshotStore(clock=clock.now)

        async def missed(_: MissedWindow) -> None:
            return None

        collector = LocCollector(
            client,
            RepoDirectory(client, ORG, allowlist=["*"], include_archived=False),
            store,
            org=ORG,
            settings=LocConfig(refresh_interval=refresh),
            concurrency=8,
            metrics=self_metrics,
            missed=missed,
            clock=clock.now,
            sleep=_no_sleep,
        )
        started = time.perf_counter()
        for _ in range(cycles):
            await collector.tick()
            clock.advance(CYCLE)
        elapsed = time.perf_counter() - started
        statuses: Counter[int] = Counter(
            {status: n for (route, status), n in sim.stats.requests.items() if route == "contributor_stats"}
        )
        return statuses, sim.stats.rate_limited(ORG), elapsed


def _line(label: str, statuses: Counter[int], budget: int, elapsed: float) -> str:
    shown = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
    return (
        f"{label:<28} stats requests/day {sum(statuses.values()):>7}  ({shown})  "
        f"rate-limited requests/day (all endpoints) {budget:>7}  [{elapsed:.1f}s]"
    )


def main() -> None:
    cycles = int(DAY / CYCLE)
    print(
        f"{REPOS} repos, {cycles} cycles of {CYCLE:.0f}s (one simulated day), stats warm-up: one 202 per new head"
    )
    for label, refresh in (
        ("refresh_interval 24h", timedelta(hours=24)),
        ("every 5-minute cycle", timedelta(minutes=5)),
    ):
        statuses, budget, elapsed = asyncio.run(run(refresh, cycles=cycles))
        print(_line(label, statuses, budget, elapsed), flush=True)


if __name__ == "__main__":
    main()
