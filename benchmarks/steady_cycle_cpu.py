"""CPU per repository of the steady activity cycle: the exporter's collector and the simulator, profiled in one process.

The simulator (frozen clock, no added latency) serves ORGS x REPOS repositories with HISTORY_DAYS of
history; one `ActivityCollector` per org writes into a real redis-server through `RedisSnapshotStore`,
as ``serve`` does. After a warm-up cycle, CYCLES steady cycles run one minute of simulated time
apart (mostly conditional requests answered 304, plus the rolling window's new activity). The steady
cycles run under cProfile; the report splits the profiled time by where it was spent (the
simulator's handlers, aiohttp's server and client, the exporter, redis-py, the event loop) and lists
the functions that cost the most. The process CPU seconds per repository per cycle are measured
without the profiler first.

Run: ``python -m benchmarks steady_cycle_cpu`` (about a minute); scale with ``GSE_BENCH_ORGS`` (2),
``GSE_BENCH_REPOS`` (300), ``GSE_BENCH_HISTORY_DAYS`` (2), ``GSE_BENCH_CYCLES`` (3).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
from tests.support.redis_server import RedisProcess

from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.model import MissedWindow
from github_stats_exporter.scrape.activity import ActivityCollector
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.store.redis import RedisSnapshotStore

ORGS = int(os.environ.get("GSE_BENCH_ORGS", "2"))
REPOS = int(os.environ.get("GSE_BENCH_REPOS", "300"))
HISTORY_DAYS = int(os.environ.get("GSE_BENCH_HISTORY_DAYS", "2"))
CYCLES = int(os.environ.get("GSE_BENCH_CYCLES", "3"))
START = 1_780_000_000.0
INTERVAL = 60.0
TOKEN = "ghp_benchmark"  # noqa: S105 - a simulator-only token
CONCURRENCY = 4


def org_names() -> list[str]:
    return [f"org{i:02d}" for i in range(ORGS)]


async def _ignore(window: MissedWindow) -> None:
    return None


async def _no_sleep(seconds: float) -> None:
    return None


def where(filename: str) -> str:
    """The part of the process a profiled function belongs to."""
    if "/simulator/" in filename:
        return "simulator"
    if "github_stats_exporter" in filename:
        return "exporter"
    if "/aiohttp/web" in filename or "/aiohttp/http_" in filename or "/aiohttp/base_protocol" in filename:
        return "aiohttp (server side and parsers)"
    if "/aiohttp/" in filename or "/yarl/" in filename or "/multidict/" in filename:
        return "aiohttp client, yarl, multidict"
    if "/redis/" in filename:
        return "redis-py"
    if "asyncio" in filename or "selectors" in filename:
        return "event loop"
    return "other (stdlib, msgspec, structlog, builtins)"


async def run(redis: RedisProcess) -> None:
    spec = WorldSpec(
        seed=7,
        orgs=tuple(
            OrgSpec(o, repos=REPOS, users=40, app_id=11, installation_id=100 + i)
            for i, o in enumerate(org_names())
        ),
        start=START,
        history_days=HISTORY_DAYS,
        future_days=1,
    )
    clock = SimClock(frozen_at=START)
    store = RedisSnapshotStore.standalone("127.0.0.1", redis.port, key_prefix="cpu")
    async with (
        Simulator(spec, clock=clock, prewarm=True, rate_limit=10**9) as sim,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2 * CONCURRENCY)) as session,
        store,
    ):
        sim.add_token(TOKEN, org_names())
        collectors = []
        for org in org_names():
            options = ClientOptions(base_url=sim.api_url, initial_backoff=0.01, jitter=False)
            client = GitHubClient(
                options,
                TokenAuth(TOKEN),
                org=org,
                metrics=SelfMetrics(),
                session=session,
                sleep=_no_sleep,
                clock=clock.now,
            )
            directory = RepoDirectory(client, org, allowlist=["*"], include_archived=False)
            collectors.append(
                ActivityCollector(
                    client,
                    directory,
                    store,
                    org=org,
                    concurrency=CONCURRENCY,
                    metrics=SelfMetrics(),
                    missed=_ignore,
                    clock=clock.now,
                )
            )

        async def cycle() -> tuple[float, int, int]:
            clock.advance(INTERVAL)
            requests, charged = sim.stats.total(), sim.stats.rate_limited()
            started = time.process_time()
            assert all(await asyncio.gather(*(c.tick() for c in collectors)))
            return (
                time.process_time() - started,
                sim.stats.total() - requests,
                sim.stats.rate_limited() - charged,
            )

        warm = await cycle()
        print(f"warm-up: {warm[0]:.1f} CPU s, {warm[1]} requests ({warm[2]} rate-limited)")
        repos = ORGS * REPOS
        plain = [await cycle() for _ in range(CYCLES)]
        for cpu, requests, charged in plain:
            print(
                f"steady cycle: {cpu:.2f} CPU s = {cpu / repos * 1000:.2f} ms per repository; "
                f"{requests / repos:.2f} requests ({charged / repos:.2f} rate-limited) per repository"
            )
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(CYCLES):
            await cycle()
        profile.disable()
    stats = pstats.Stats(profile)
    parts: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        parts[where(filename)] += tottime
    total = sum(parts.values())
    print(
        f"profiled steady cycles: where the time goes ({total / CYCLES / repos * 1000:.2f} ms per repository under cProfile)"
    )
    for part, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {part:45s} {seconds / total:6.1%}")
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def main() -> None:
    with tempfile.TemporaryDirectory() as raw:
        redis = RedisProcess(Path(raw) / "redis").start()
        try:
            print(f"{ORGS} orgs x {REPOS} repos, {HISTORY_DAYS} days of history, {CYCLES} steady cycles")
            asyncio.run(run(redis))
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
