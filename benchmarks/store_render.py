"""Store and rendering benchmark: Redis snapshot writes, idle refresh cost, cold render, cached serving.

Run: ``.venv/bin/python -m benchmarks store_render`` (or ``python -m benchmarks.store_render``). It starts
its own redis-server on a free loopback port in a temporary directory and stops it at the end. The
prometheus_client baseline renders the same 500k series in the same run.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from tests.support.redis_server import RedisProcess, send_command

from github_stats_exporter import metrics as m
from github_stats_exporter.exposition import ExpositionCache
from github_stats_exporter.health import Health
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.server import HttpServer, build_app
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.store.redis import RedisSnapshotStore

WRITE_SERIES = 100_000
RENDER_SERIES = 500_000
SNAPSHOT_SERIES = 1_000
GETS = 200
FAMILIES = (m.ACTIVITY_COMMITS, m.ACTIVITY_PRS_OPENED, m.ACTIVITY_REVIEWS, m.ACTIVITY_ISSUE_COMMENTS)


def snapshots(total: int, per_snapshot: int) -> list[Snapshot]:
    """Activity-like snapshots: one repo each, users x four families, small integer values."""
    out = []
    users = per_snapshot // len(FAMILIES)
    for r in range(total // per_snapshot):
        samples = tuple(
            Sample(
                spec.name,
                (("org", "acme"), ("repo", f"repo-{r}"), ("user", f"user-{u}")),
                float((r + u) % 13),
            )
            for spec in FAMILIES
            for u in range(users)
        )
        out.append(Snapshot(SnapshotKey("activity", ("acme", f"repo-{r}")), samples, 1.0))
    return out


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def command_calls(port: int) -> int:
    """Commands the server has executed so far (INFO commandstats), minus the INFO calls themselves."""
    stats = send_command(port, "INFO", "commandstats").decode()
    total = 0
    for line in stats.splitlines():
        if line.startswith("cmdstat_") and not line.startswith("cmdstat_info:"):
            total += int(line.split("calls=")[1].split(",")[0])
    return total


async def write_benchmark(port: int) -> dict[str, float]:
    async with RedisSnapshotStore.standalone("127.0.0.1", port, key_prefix="bench-w") as store:
        snap = snapshots(WRITE_SERIES, WRITE_SERIES)[0]
        times = []
        for _ in range(5):
            started = time.perf_counter()
            await store.put(snap)
            times.append(time.perf_counter() - started)
        return {"put_100k_median_s": statistics.median(times), "put_100k_min_s": min(times)}


async def redis_render_benchmark(port: int, snaps: list[Snapshot]) -> dict[str, float]:
    async with RedisSnapshotStore.standalone("127.0.0.1", port, key_prefix="bench-r") as store:
        started = time.perf_counter()
        await asyncio.gather(*(store.put(s) for s in snaps))
        fill = time.perf_counter() - started
        cache = ExpositionCache(store, m_self())
        started = time.perf_counter()
        await cache.refresh()
        cold = time.perf_counter() - started
        before = command_calls(port)
        started = time.perf_counter()
        idle_rounds = 20
        for _ in range(idle_rounds):
            await cache.refresh()
        idle = (time.perf_counter() - started) / idle_rounds
        commands = (command_calls(port) - before) / idle_rounds
        await store.put(snaps[7])
        before = command_calls(port)
        started = time.perf_counter()
        await cache.refresh()
        one_changed = time.perf_counter() - started
        one_changed_commands = command_calls(port) - before
        return {
            "fill_500k_s": fill,
            "cold_refresh_from_redis_s": cold,
            "idle_refresh_s": idle,
            "idle_refresh_commands": commands,
            "one_snapshot_changed_refresh_s": one_changed,
            "one_snapshot_changed_commands": one_changed_commands,
        }


def m_self() -> SelfMetrics:
    return SelfMetrics()


async def memory_render_benchmark(snaps: list[Snapshot]) -> tuple[ExpositionCache, dict[str, float]]:
    store = MemorySnapshotStore()
    for s in snaps:
        await store.put(s)
    cache = ExpositionCache(store, m_self(), offload_threshold=10**9)
    started = time.perf_counter()
    await cache.refresh()
    cold = time.perf_counter() - started
    return cache, {"cold_render_s": cold, "cold_render_series_per_s": RENDER_SERIES / cold}


async def serve_benchmark(cache: ExpositionCache) -> dict[str, float]:
    self_metrics = m_self()
    health = Health(lambda: cache.ready, self_metrics)
    server = HttpServer(build_app(cache, health, self_metrics), "127.0.0.1", 0)
    port = await server.start()
    out: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            for label, headers in (
                ("plain", {"Accept-Encoding": "identity"}),
                ("gzip", {"Accept-Encoding": "gzip"}),
            ):
                times = []
                size = 0
                for _ in range(GETS + 5):
                    started = time.perf_counter()
                    async with session.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as resp:
                        body = await resp.read()
                    times.append(time.perf_counter() - started)
                    size = len(body)
                times = sorted(times[5:])
                out[f"serve_{label}_p50_ms"] = times[len(times) // 2] * 1000
                out[f"serve_{label}_p99_ms"] = times[int(len(times) * 0.99) - 1] * 1000
                out[f"serve_{label}_bytes"] = size
    finally:
        await server.stop()
    return out


def prometheus_client_baseline(snaps: list[Snapshot]) -> dict[str, float]:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

    class SnapshotCollector:
        def collect(self):
            families: dict[str, GaugeMetricFamily] = {}
            for snap in snaps:
                for s in snap.samples:
                    family = families.get(s.name)
                    if family is None:
                        names = [k for k, _ in s.labels]
                        family = families[s.name] = GaugeMetricFamily(
                            s.name, m.FAMILIES[s.name].help, labels=names
                        )
                    family.add_metric([v for _, v in s.labels], s.value)
            yield from families.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector())
    text = timed(lambda: generate_latest(registry))
    om = timed(lambda: generate_openmetrics(registry))  # type: ignore[no-untyped-call]
    return {
        "prometheus_client_text_s": text,
        "prometheus_client_text_series_per_s": RENDER_SERIES / text,
        "prometheus_client_openmetrics_s": om,
    }


async def run() -> dict[str, float]:
    results: dict[str, float] = {}
    snaps = snapshots(RENDER_SERIES, SNAPSHOT_SERIES)
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisProcess(Path(tmp) / "redis").start()
        try:
            results |= await write_benchmark(server.port)
            results |= await redis_render_benchmark(server.port, snaps)
        finally:
            server.stop()
    gc.collect()
    cache, render = await memory_render_benchmark(snaps)
    results |= render
    results |= await serve_benchmark(cache)
    gc.collect()
    results |= prometheus_client_baseline(snaps)
    return results


def main() -> None:
    results = asyncio.run(run())
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:,.3f}")


if __name__ == "__main__":
    main()
