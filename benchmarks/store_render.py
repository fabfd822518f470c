"""Store and rendering benchmark: Redis snapshot writes, idle refresh cost, cold render, cached serving.

Run: ``.venv/bin/python -m benchmarks store_render`` (or ``python -m benchmarks.store_render``). It starts
its own redis-server on a free loopback port in a temporary directory and stops it at the end. The
prometheus_client baseline renders the same 500k series in the same run.

A fresh replica is a new process (``python -m benchmarks.store_render --replica PORT PREFIX``) that
connects to the filled Redis, refreshes its page cache once and reports the time and its resident
memory (VmRSS) before and after, and the CPU seconds of the refresh; it runs three times per store
layout and the median is reported: snapshots written with fragments (this version), the same while a
spinning process keeps one core busy, and snapshots without fragments (an older writer: decode +
encode).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from tests.support.redis_server import RedisProcess, send_command

from github_stats_exporter import metrics as m
from github_stats_exporter.exposition import ExpositionCache, Format, pack_snapshot
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
REPLICA_RUNS = 3
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


def rss_bytes() -> int:
    """Resident memory of this process (VmRSS), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    msg = "no VmRSS in /proc/self/status"
    raise RuntimeError(msg)


async def replica_refresh(port: int, prefix: str) -> dict[str, float]:
    """What a replica starting now does first: one page refresh from the filled store, and its memory."""
    async with RedisSnapshotStore.standalone("127.0.0.1", port, key_prefix=prefix) as store:
        await store.ping()  # connect (and import everything) before measuring
        cache = ExpositionCache(store, m_self())
        gc.collect()
        before = rss_bytes()
        cpu = time.process_time()  # every thread of the process, the refresh's worker thread included
        started = time.perf_counter()
        await cache.refresh()
        cold = time.perf_counter() - started
        cpu = time.process_time() - cpu
        # parts(), as the server uses it: body() would add a joined copy of the page to the figure.
        pieces, _ = cache.parts(Format.OPENMETRICS)  # what Prometheus asks for
        gc.collect()
        after = rss_bytes()
        cache.parts(Format.TEXT)  # a second format: the same fragments under other family headers
        gc.collect()
        both = rss_bytes()
        # Bytes per series = MB per million series.
        return {
            "series": cache.series_count,
            "cold_refresh_s": cold,
            "cold_refresh_cpu_s": cpu,
            "rss_mb_per_million_series": (after - before) / cache.series_count,
            "rss_mb_per_million_series_both_formats": (both - before) / cache.series_count,
            "page_mb": sum(map(len, pieces)) / 1e6,
        }


def fresh_replicas(port: int, prefix: str, *, busy_core: bool = False) -> dict[str, float]:
    """Run `replica_refresh` in REPLICA_RUNS new processes; the median of each figure.

    With ``busy_core`` a process spinning in a loop keeps one core busy meanwhile (on top of whatever
    else the machine runs), the situation the cold-start target must hold in.
    """
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy_core else None
    try:
        runs = []
        for _ in range(REPLICA_RUNS):
            command = [sys.executable, "-m", "benchmarks.store_render", "--replica", str(port), prefix]
            done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
            runs.append(json.loads(done.stdout))
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


async def write_benchmark(port: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, encoder in (("", pack_snapshot), ("_without_fragments", None)):
        options = {"key_prefix": f"bench-w{label}", "fragments": encoder}
        async with RedisSnapshotStore.standalone("127.0.0.1", port, **options) as store:
            snap = snapshots(WRITE_SERIES, WRITE_SERIES)[0]
            times = []
            for _ in range(5):
                started = time.perf_counter()
                await store.put(snap)
                times.append(time.perf_counter() - started)
            out[f"put_100k{label}_median_s"] = statistics.median(times)
            out[f"put_100k{label}_min_s"] = min(times)
    return out


async def redis_fill(port: int, prefix: str, snaps: list[Snapshot], *, fragments: bool) -> float:
    encoder = pack_snapshot if fragments else None
    async with RedisSnapshotStore.standalone(
        "127.0.0.1", port, key_prefix=prefix, fragments=encoder
    ) as store:
        started = time.perf_counter()
        await asyncio.gather(*(store.put(s) for s in snaps))
        return time.perf_counter() - started


async def redis_render_benchmark(port: int, snaps: list[Snapshot]) -> dict[str, float]:
    fill = await redis_fill(port, "bench-r", snaps, fragments=True)
    old_fill = await redis_fill(port, "bench-old", snaps, fragments=False)
    replica = fresh_replicas(port, "bench-r")
    busy_replica = fresh_replicas(port, "bench-r", busy_core=True)
    old_replica = fresh_replicas(port, "bench-old")
    async with RedisSnapshotStore.standalone(
        "127.0.0.1", port, key_prefix="bench-r", fragments=pack_snapshot
    ) as store:
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
            "fill_500k_without_fragments_s": old_fill,
            "fresh_replica_cold_refresh_s": replica["cold_refresh_s"],
            "fresh_replica_cold_refresh_cpu_s": replica["cold_refresh_cpu_s"],
            "fresh_replica_one_core_busy_cold_refresh_s": busy_replica["cold_refresh_s"],
            "fresh_replica_one_core_busy_cold_refresh_cpu_s": busy_replica["cold_refresh_cpu_s"],
            "fresh_replica_rss_mb_per_million_series": replica["rss_mb_per_million_series"],
            "fresh_replica_rss_mb_per_million_series_both_formats": replica[
                "rss_mb_per_million_series_both_formats"
            ],
            "fresh_replica_without_fragments_cold_refresh_s": old_replica["cold_refresh_s"],
            "fresh_replica_without_fragments_cold_refresh_cpu_s": old_replica["cold_refresh_cpu_s"],
            "fresh_replica_without_fragments_rss_mb_per_million_series": old_replica[
                "rss_mb_per_million_series"
            ],
            "cold_refresh_from_redis_s": cold,
            "idle_refresh_s": idle,
            "idle_refresh_commands": commands,
            "one_snapshot_changed_refresh_s": one_changed,
            "one_snapshot_changed_commands": one_changed_commands,
        }


def m_self() -> SelfMetrics:
    return SelfMetrics()


async def memory_render_benchmark(snaps: list[Snapshot]) -> tuple[ExpositionCache, dict[str, float]]:
    """Cold render from the memory store, with fragments kept by the writer and (before) without."""
    out: dict[str, float] = {}
    caches = []
    for label, encoder in (("", pack_snapshot), ("_without_fragments", None)):
        store = MemorySnapshotStore(fragments=encoder)
        started = time.perf_counter()
        for s in snaps:
            await store.put(s)
        out[f"memory_fill{label}_s"] = time.perf_counter() - started
        cache = ExpositionCache(store, m_self(), offload_threshold=10**9)
        gc.collect()
        started = time.perf_counter()
        await cache.refresh()
        cold = time.perf_counter() - started
        out[f"cold_render{label}_s"] = cold
        out[f"cold_render{label}_series_per_s"] = RENDER_SERIES / cold
        caches.append(cache)
    return caches[0], out


async def warm_refresh_benchmark() -> dict[str, float]:
    """A page of 20,000 small snapshots, then 5,000 of them rewritten and 1,000 deleted: one refresh.

    The refresh once tested every page entry against a list of the changed keys: 20,000 x 5,000
    comparisons on the event loop, ~10 s (docs/benchmarks.md, "Sharded collection"). On the loop here
    (no offload), as a refresh of that size runs in `serve`.
    """
    snaps = snapshots(200_000, 10)
    store = MemorySnapshotStore(fragments=pack_snapshot)
    for snap in snaps:
        await store.put(snap)
    cache = ExpositionCache(store, m_self(), offload_threshold=10**9)
    await cache.refresh()
    for snap in snaps[:5_000]:
        samples = tuple(Sample(x.name, x.labels, x.value + 1) for x in snap.samples)
        await store.put(Snapshot(snap.key, samples, snap.produced_at + 1))
    for snap in snaps[-1_000:]:
        await store.delete(snap.key)
    gc.collect()
    cpu, started = time.process_time(), time.perf_counter()
    await cache.refresh()
    return {
        "warm_refresh_20k_entries_5k_changed_1k_deleted_s": time.perf_counter() - started,
        "warm_refresh_20k_entries_5k_changed_1k_deleted_cpu_s": time.process_time() - cpu,
    }


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
    results |= await warm_refresh_benchmark()
    results |= await serve_benchmark(cache)
    gc.collect()
    results |= prometheus_client_baseline(snaps)
    return results


def main() -> None:
    if sys.argv[1:2] == ["--replica"]:
        print(json.dumps(asyncio.run(replica_refresh(int(sys.argv[2]), sys.argv[3]))))
        return
    results = asyncio.run(run())
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:,.3f}")


if __name__ == "__main__":
    main()
