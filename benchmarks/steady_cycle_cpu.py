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
import time
from collections import defaultdict

from tests.support.redis_server import RedisProcess

from benchmarks._activity_world import activity_world, run_on_redis

ORGS = int(os.environ.get("GSE_BENCH_ORGS", "2"))
REPOS = int(os.environ.get("GSE_BENCH_REPOS", "300"))
HISTORY_DAYS = int(os.environ.get("GSE_BENCH_HISTORY_DAYS", "2"))
CYCLES = int(os.environ.get("GSE_BENCH_CYCLES", "3"))
INTERVAL = 60.0


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
    async with activity_world(
        redis, key_prefix="cpu", orgs=ORGS, repos=REPOS, history_days=HISTORY_DAYS
    ) as world:
        sim, clock, collectors = world.sim, world.clock, world.collectors

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
    run_on_redis(run, f"{ORGS} orgs x {REPOS} repos, {HISTORY_DAYS} days of history, {CYCLES} steady cycles")


if __name__ == "__main__":
    main()
