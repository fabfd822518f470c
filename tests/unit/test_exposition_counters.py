"""Cluster-wide self-metric counters in the exposition cache: flushed to the store, served as shared totals."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from github_stats_exporter import metrics as m
from github_stats_exporter.exposition import ExpositionCache, Format
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import CounterKey, StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore

METRICS_200 = {"path": "/metrics", "code": "200"}
LINE_PREFIX = b'gh_exporter_http_requests_total{path="/metrics",code="200"} '


class FlakyCounterStore(MemorySnapshotStore):
    """Memory store whose counter flush can fail before or after applying (an unknown outcome)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: str | None = None  # "before" or "after"
        self.calls: list[str] = []

    async def generation(self) -> int:
        self.calls.append("generation")
        return await super().generation()

    async def counters(self) -> dict[CounterKey, float]:
        self.calls.append("counters")
        return await super().counters()

    async def add_counters(self, deltas: Mapping[CounterKey, float], batch_id: str = "") -> None:
        self.calls.append("add_counters")
        if self.fail == "before":
            msg = "redis down"
            raise StoreUnavailable(msg)
        await super().add_counters(deltas, batch_id)
        if self.fail == "after":
            msg = "connection lost before the reply"
            raise StoreUnavailable(msg)


def served(cache: ExpositionCache) -> float:
    for line in cache.body(Format.TEXT).splitlines(keepends=True):
        if line.startswith(LINE_PREFIX):
            return float(line[len(LINE_PREFIX) :])
    return 0.0


async def test_replicas_serve_the_same_cluster_total() -> None:
    """Two processes on one store both serve the sum of their increments once both have refreshed."""
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


async def test_served_counter_never_goes_down_across_flushes_and_failures() -> None:
    """Local increments show at once and the served value only grows through flushes, failures and retries."""
    store = FlakyCounterStore()
    self_metrics = SelfMetrics()
    cache = ExpositionCache(store, self_metrics)
    await cache.refresh()
    seen = [served(cache)]
    for step in ("ok", "before", "after", "ok", "ok"):
        self_metrics.inc(m.HTTP_REQUESTS, METRICS_200, 2)
        seen.append(served(cache))
        store.fail = None if step == "ok" else step
        if step == "ok":
            await cache.refresh()
        else:
            with pytest.raises(StoreUnavailable):
                await cache.refresh()
        seen.append(served(cache))
    assert seen == sorted(seen)
    assert seen[-1] == 10
    assert (await store.counters())[(m.HTTP_REQUESTS.name, tuple(METRICS_200.items()))] == 10


async def test_a_flush_with_an_unknown_outcome_is_retried_once() -> None:
    """A flush that landed but lost its reply is retried with the same batch id and counted once."""
    store = FlakyCounterStore()
    self_metrics = SelfMetrics()
    cache = ExpositionCache(store, self_metrics)
    self_metrics.inc(m.HTTP_REQUESTS, METRICS_200, 5)
    store.fail = "after"
    with pytest.raises(StoreUnavailable):
        await cache.refresh()
    assert self_metrics.value(m.STORE_FLUSH_FAILURES) == 1
    store.fail = None
    await cache.refresh()  # retries the batch (already applied) ...
    await cache.refresh()  # ... then flushes the failure counter itself
    totals = await store.counters()
    assert totals[(m.HTTP_REQUESTS.name, tuple(METRICS_200.items()))] == 5
    assert totals[(m.STORE_FLUSH_FAILURES.name, ())] == 1
    assert served(cache) == 5


async def test_idle_refresh_costs_a_fixed_number_of_store_calls() -> None:
    """With no snapshot change and no new increments a refresh reads the generation and the totals only."""
    store = FlakyCounterStore()
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
