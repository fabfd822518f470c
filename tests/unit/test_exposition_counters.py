"""The page cache renders the cluster-wide counters it is given, flushes them on refresh, keeps gauges local."""

from __future__ import annotations

from github_stats_exporter import metrics as m
from github_stats_exporter.cluster_counters import ClusterCounters
from github_stats_exporter.exposition import ExpositionCache, Format
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import CounterKey
from github_stats_exporter.store.memory import MemorySnapshotStore

METRICS_200 = {"path": "/metrics", "code": "200"}
LINE_PREFIX = b'gh_exporter_http_requests_total{path="/metrics",code="200"} '
EPOCH = 10.0
START = 1_000_000.0


class CallRecordingStore(MemorySnapshotStore):
    """Memory store that records the calls a refresh makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def generation(self) -> int:
        self.calls.append("generation")
        return await super().generation()

    async def counters(self) -> dict[CounterKey, float]:
        self.calls.append("counters")
        return await super().counters()


def served(cache: ExpositionCache) -> float:
    for line in cache.body(Format.TEXT).splitlines(keepends=True):
        if line.startswith(LINE_PREFIX):
            return float(line[len(LINE_PREFIX) :])
    return 0.0


async def test_replicas_serve_the_same_cluster_total() -> None:
    """Two caches on one store both render the sum of their processes' increments once both have refreshed."""
    store = MemorySnapshotStore()
    metrics_a, metrics_b = SelfMetrics(), SelfMetrics()
    cache_a, cache_b = ExpositionCache(store, metrics_a), ExpositionCache(store, metrics_b)
    metrics_a.inc(m.HTTP_REQUESTS, METRICS_200, 3)
    metrics_b.inc(m.HTTP_REQUESTS, METRICS_200, 4)
    await cache_a.refresh()
    await cache_b.refresh()
    await cache_a.refresh()
    assert served(cache_a) == served(cache_b) == 7
    assert (await store.counters())[(m.HTTP_REQUESTS.name, tuple(METRICS_200.items()))] == 7


async def test_gauges_stay_per_process() -> None:
    """A gauge set in one process is never served by another process on the same store."""
    store = MemorySnapshotStore()
    metrics_a, metrics_b = SelfMetrics(), SelfMetrics()
    cache_a, cache_b = ExpositionCache(store, metrics_a), ExpositionCache(store, metrics_b)
    metrics_a.set(m.DEPENDENCY_HEALTH, {"dependency": "store"}, 1)
    await cache_a.refresh()
    await cache_b.refresh()
    assert b'gh_exporter_dependency_health{dependency="store"} 1' in cache_a.body(Format.TEXT)
    assert b"gh_exporter_dependency_health{" not in cache_b.body(Format.TEXT)


async def test_a_scrape_between_refreshes_shows_the_epoch_switch() -> None:
    """With sealed epochs the page switches to the newer totals at the wall-clock moment, not at a refresh."""
    store = MemorySnapshotStore()
    now = [START]
    metrics = SelfMetrics()
    counters = ClusterCounters(store, metrics, epoch_seconds=EPOCH, clock=lambda: now[0])
    cache = ExpositionCache(store, metrics, counters=counters, clock=lambda: now[0])
    metrics.inc(m.HTTP_REQUESTS, METRICS_200, 3)
    await cache.refresh()
    now[0] = (START // EPOCH + 2.5) * EPOCH - 0.001
    assert served(cache) == 0
    metrics.inc(m.HTTP_REQUESTS, METRICS_200, 1)  # not sealed yet: not served by any replica
    now[0] += 0.001
    assert served(cache) == 3


async def test_idle_refresh_costs_a_fixed_number_of_store_calls() -> None:
    """With no snapshot change and no new increments a refresh reads the generation and the totals only."""
    store = CallRecordingStore()
    cache = ExpositionCache(store, SelfMetrics())
    await cache.refresh()
    store.calls.clear()
    assert not await cache.refresh()
    assert store.calls == ["generation", "counters"]


async def test_store_series_gauge_follows_the_store() -> None:
    """gh_exporter_store_series reports the store's series count after each changed refresh."""
    store = MemorySnapshotStore()
    self_metrics = SelfMetrics()
    cache = ExpositionCache(store, self_metrics)
    await cache.refresh()
    assert self_metrics.value(m.STORE_SERIES) == 0
    sample = m.ACTIVITY_COMMITS.sample(1, {"org": "o", "repo": "r", "user": "u"})
    await store.put(Snapshot(SnapshotKey("activity", ("o", "r")), (sample,), 1.0))
    await cache.refresh()
    assert self_metrics.value(m.STORE_SERIES) == 1
