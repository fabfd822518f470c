"""Build and serve a 500k-series page the way /metrics does: writer fragments, cold refresh, scrapes.

The writer side is what a store with the production fragment encoder does per put (`pack_snapshot`:
encode, series hashes, scope). The server process fills a memory store through that encoder, refreshes
its page cache once from the stored fragments (no sample is decoded or encoded), and serves the page as
its pieces. The server runs in a child process so the client's own reading of a 35 MB body does not
share the event loop (or the GIL) with the server being measured. Loopback only.

Run: ``.venv/bin/python -m benchmarks serve_page``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time

import aiohttp

from github_stats_exporter.exposition import ExpositionCache, Format, pack_snapshot
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import ACTIVITY_COMMITS
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.server import HttpServer, build_app
from github_stats_exporter.store.memory import MemorySnapshotStore

REPOS, USERS = 500, 1000
SERIES = REPOS * USERS


def snapshots() -> list[tuple[Sample, ...]]:
    return [
        tuple(
            ACTIVITY_COMMITS.sample(i % 7, {"org": "acme", "repo": f"repo-{r}", "user": f"user-{i}"})
            for i in range(USERS)
        )
        for r in range(REPOS)
    ]


def measure_writer(snaps: list[tuple[Sample, ...]]) -> None:
    """What the writers pay once per snapshot so that no reader encodes: `pack_snapshot`, best of 3."""
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        for samples in snaps:
            pack_snapshot(samples)
        rates.append(SERIES / (time.perf_counter() - started))
    print(
        f"writer: pack {SERIES} series (encode + hashes + scope): best {max(rates) / 1e6:.2f}M series/s (runs: "
        + ", ".join(f"{r / 1e6:.2f}M" for r in rates)
        + ")"
    )


def serve(port_queue: multiprocessing.Queue[int]) -> None:
    async def run() -> None:
        store = MemorySnapshotStore(fragments=pack_snapshot)
        for r, samples in enumerate(snapshots()):
            await store.put(Snapshot(SnapshotKey("activity", ("acme", f"repo-{r}")), samples, 0.0))
        metrics = SelfMetrics()
        cache = ExpositionCache(store, metrics)
        cpu = time.process_time()
        started = time.perf_counter()
        await cache.refresh()
        wall = time.perf_counter() - started
        print(
            f"cold refresh from stored fragments, {SERIES} series: {wall:.3f} s = {SERIES / wall / 1e6:.1f}M "
            f"series/s ({time.process_time() - cpu:.3f} CPU s)"
        )
        server = HttpServer(build_app(cache, Health(lambda: cache.ready, metrics), metrics), "127.0.0.1", 0)
        port_queue.put(await server.start())
        await asyncio.sleep(3600)

    asyncio.run(run())


async def measure_serving(port: int, requests: int = 100) -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        for fmt in (Format.OPENMETRICS, Format.TEXT):
            for encoding in ("gzip", "identity"):
                latencies = []
                size = 0
                headers = {"Accept": fmt.content_type, "Accept-Encoding": encoding}
                for _ in range(requests):
                    started = time.perf_counter()
                    async with http.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as resp:
                        size = len(await resp.read())
                        if resp.content_length != size:
                            msg = f"Content-Length {resp.content_length} but {size} bytes arrived"
                            raise RuntimeError(msg)
                    latencies.append(time.perf_counter() - started)
                first = latencies[0]
                latencies.sort()
                p50 = statistics.median(latencies) * 1000
                p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
                print(
                    f"serve {fmt.name.lower():11s} {encoding:8s} {size / 1e6:6.1f} MB: p50 {p50:.1f} ms, "
                    f"p99 {p99:.1f} ms (first {first * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms, "
                    f"{requests} GETs)"
                )


def main() -> None:
    measure_writer(snapshots())
    ctx = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue[int] = ctx.Queue()
    child = ctx.Process(target=serve, args=(ports,), daemon=True)
    child.start()
    try:
        port = ports.get(timeout=180)
        asyncio.run(measure_serving(port))
    finally:
        child.terminate()
        child.join(10)


if __name__ == "__main__":
    main()
