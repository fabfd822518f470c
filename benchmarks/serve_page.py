"""Encode and serve a 500k-series page: encoder throughput and /metrics latency seen by another process.

The server runs in a child process so the client's own reading of a 36 MB body does not share the
event loop (or the GIL) with the server being measured. Loopback only.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time

import aiohttp

from github_stats_exporter.exposition import ExpositionCache
from github_stats_exporter.exposition.encoder import encode_samples
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import ACTIVITY_COMMITS
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.server import HttpServer, build_app
from github_stats_exporter.store.memory import MemorySnapshotStore

REPOS, USERS = 500, 1000


def snapshots() -> list[tuple[Sample, ...]]:
    return [
        tuple(
            ACTIVITY_COMMITS.sample(i % 7, {"org": "acme", "repo": f"repo-{r}", "user": f"user-{i}"})
            for i in range(USERS)
        )
        for r in range(REPOS)
    ]


def measure_encoder(snaps: list[tuple[Sample, ...]]) -> None:
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        for samples in snaps:
            encode_samples(samples)
        rates.append(REPOS * USERS / (time.perf_counter() - started))
    print(
        f"encode {REPOS * USERS} series: best {max(rates) / 1e6:.2f}M series/s (runs: "
        + ", ".join(f"{r / 1e6:.2f}M" for r in rates)
        + ")"
    )


def serve(port_queue: multiprocessing.Queue[int]) -> None:
    async def run() -> None:
        store = MemorySnapshotStore()
        for r, samples in enumerate(snapshots()):
            await store.put(Snapshot(SnapshotKey("activity", ("acme", f"repo-{r}")), samples, 0.0))
        metrics = SelfMetrics()
        cache = ExpositionCache(store, metrics)
        started = time.perf_counter()
        await cache.refresh()
        print(
            f"cold refresh (encode + page build) of {REPOS * USERS} series: {time.perf_counter() - started:.2f}s"
        )
        server = HttpServer(build_app(cache, Health(lambda: cache.ready, metrics), metrics), "127.0.0.1", 0)
        port_queue.put(await server.start())
        await asyncio.sleep(3600)

    asyncio.run(run())


async def measure_serving(port: int, requests: int = 100) -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        for encoding in ("gzip", "identity"):
            latencies = []
            size = 0
            for _ in range(requests):
                started = time.perf_counter()
                async with http.get(
                    f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": encoding}
                ) as resp:
                    size = len(await resp.read())
                latencies.append(time.perf_counter() - started)
            latencies.sort()
            p50 = statistics.median(latencies) * 1000
            p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
            print(
                f"serve {encoding:8s} {size / 1e6:6.1f} MB: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
                f"(first {latencies[0] * 1000:.1f}..max {latencies[-1] * 1000:.1f} ms, {requests} GETs)"
            )


def main() -> None:
    measure_encoder(snapshots())
    ctx = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue[int] = ctx.Queue()
    child = ctx.Process(target=serve, args=(ports,), daemon=True)
    child.start()
    try:
        port = ports.get(timeout=120)
        asyncio.run(measure_serving(port))
    finally:
        child.terminate()
        child.join(10)


if __name__ == "__main__":
    main()
