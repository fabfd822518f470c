"""Cluster-wide counters with several replicas: every replica serves the same, never-decreasing value."""

from __future__ import annotations

import random

from github_stats_exporter.exposition import ExpositionCache, Format
from github_stats_exporter.metrics import GITHUB_REQUESTS
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore

LABELS = {"org": "acme", "endpoint": "list_commits", "status_class": "2xx"}
EPOCH = 10.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def served(cache: ExpositionCache) -> float:
    for line in cache.body(Format.TEXT).decode().splitlines():
        if line.startswith("gh_exporter_github_requests_total{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_replicas_serve_identical_monotonic_counters():
    """Interleaved increments and refreshes on three replicas never make a scraped counter go down."""
    store = MemorySnapshotStore()
    clock = Clock(1_000_000.0)
    replicas = [SelfMetrics() for _ in range(3)]
    caches = [ExpositionCache(store, m, clock=clock, counter_epoch_seconds=EPOCH) for m in replicas]
    rng = random.Random(7)
    # Each replica refreshes every EPOCH seconds at its own phase, as with one refresh interval.
    phases = [rng.uniform(0, EPOCH) for _ in caches]
    next_refresh = [clock.now + p for p in phases]
    for cache in caches:
        await cache.refresh()
    seen: list[float] = []
    total_increments = 0
    for _ in range(2000):
        clock.now += rng.uniform(0.05, 0.5)
        who = rng.randrange(3)
        replicas[who].inc(GITHUB_REQUESTS, LABELS)
        total_increments += 1
        for i, cache in enumerate(caches):
            if clock.now >= next_refresh[i]:
                await cache.refresh()
                next_refresh[i] += EPOCH
        values = [served(cache) for cache in caches]
        assert len(set(values)) == 1, (clock.now, values)  # identical on every replica
        seen.append(values[rng.randrange(3)])  # a scrape reaching any replica
    assert seen == sorted(seen)  # never goes down as Prometheus sees it
    assert seen[-1] > 0
    assert seen[-1] <= total_increments


async def test_single_replica_mode_serves_unflushed_increments_at_once():
    """Without epochs (one replica) a counter includes increments not yet flushed to the store."""
    store = MemorySnapshotStore()
    metrics = SelfMetrics()
    cache = ExpositionCache(store, metrics)
    await cache.refresh()
    metrics.inc(GITHUB_REQUESTS, LABELS, 3)
    assert served(cache) == 3
