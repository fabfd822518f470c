"""One shard coordination round of a replica holding 60 units, on a real Redis, idle and on a busy loop.

The replica is a `ShardCoordinator` on `RedisSnapshotStore`, as ``serve`` builds it in
``leader_election.mode: sharded`` (20 orgs x 3 shards, 4 s leases, renew_deadline 2.7 s, the cluster
view read every round). After it has settled, the benchmark times ROUNDS rounds on an idle event loop,
then ROUNDS rounds while a busy task stands in for the collectors: it holds the loop for
``GSE_BENCH_BUSY_MS`` of CPU, gives it up for one turn, and again (a loop as busy as the measured one,
docs/benchmarks.md, "Sharded collection"). Every await of the coordinator then waits for one such slice,
so a round costs about (round trips x slice). Per mode it prints the median round wall time, the Redis
commands the round sent by itself (EVALSHA and MGET, from ``INFO commandstats``) and the units still
held: a round longer than renew_deadline drops every unit.

Run: ``python -m benchmarks shard_round`` (seconds); ``GSE_BENCH_ORGS`` (default 20),
``GSE_BENCH_SHARDS`` (3), ``GSE_BENCH_BUSY_MS`` (40), ``GSE_BENCH_ROUNDS`` (5). Only public APIs are
used, so the same file times another checkout too (``PYTHONPATH=<checkout>/src``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis
from tests.support.redis_server import RedisProcess

from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.leader.shards import ShardCoordinator
from github_stats_exporter.leader.units import plan_units
from github_stats_exporter.store.redis import RedisSnapshotStore

ORGS = int(os.environ.get("GSE_BENCH_ORGS", "20"))
SHARDS = int(os.environ.get("GSE_BENCH_SHARDS", "3"))
BUSY = float(os.environ.get("GSE_BENCH_BUSY_MS", "40")) / 1000
ROUNDS = int(os.environ.get("GSE_BENCH_ROUNDS", "5"))
TIMINGS = LeaseTimings(lease_duration=4.0, renew_deadline=2.7, retry_period=0.5)


async def busy_collectors() -> None:
    """Hold the loop for BUSY seconds of CPU, give it up for one turn, repeat."""
    while True:
        until = time.perf_counter() + BUSY
        while time.perf_counter() < until:
            pass
        await asyncio.sleep(0)


async def round_trips(inspector: Redis) -> int:
    stats = await inspector.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval", "mget"))


async def measure(coordinator: ShardCoordinator, inspector: Redis) -> tuple[float, int, int]:
    """Median round wall time (ms), Redis commands of the last round, units held after the rounds."""
    walls: list[float] = []
    trips = 0
    for _ in range(ROUNDS):
        await inspector.config_resetstat()
        started = time.perf_counter()
        await coordinator.step(lambda _: None)
        walls.append((time.perf_counter() - started) * 1000)
        trips = await round_trips(inspector)
        if len(coordinator.held) == 0:
            await coordinator.step(lambda _: None)  # take the units again for the next round
    return statistics.median(walls), trips, len(coordinator.held)


async def run(redis: RedisProcess) -> None:
    units = plan_units({f"org{i}": SHARDS for i in range(ORGS)})
    store = RedisSnapshotStore.standalone("127.0.0.1", redis.port, key_prefix="bench")
    inspector = Redis(host="127.0.0.1", port=redis.port)
    coordinator = ShardCoordinator(store, identity="a", units=units, timings=TIMINGS, on_view=lambda _: None)
    try:
        for _ in range(2):
            await coordinator.step(lambda _: None)
        print(f"{len(units)} units, busy slice {BUSY * 1000:.0f} ms, {ROUNDS} rounds per mode")
        for mode in ("idle", "busy"):
            busy = asyncio.create_task(busy_collectors()) if mode == "busy" else None
            try:
                wall, trips, held = await measure(coordinator, inspector)
            finally:
                if busy is not None:
                    busy.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await busy
            print(
                f"  {mode:4}: round {wall:7.1f} ms (median), {trips} Redis commands (EVALSHA + MGET),"
                f" {held}/{len(units)} units held after"
            )
    finally:
        await inspector.aclose()
        await store.close()
    print(f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        redis = RedisProcess(Path(tmp) / "redis").start()
        try:
            asyncio.run(run(redis))
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
