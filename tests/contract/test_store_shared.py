"""Contract of the store features replicas share: counter totals, series count, retention and gc."""

from __future__ import annotations

from typing import Protocol

import pytest

from github_stats_exporter.metrics import ACTIVITY_COMMITS, HTTP_REQUESTS, STORE_SERIES_REFUSED
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.store.base import SeriesBudgetExceeded, SnapshotStore
from github_stats_exporter.store.redis import RedisSnapshotStore


class Backend(Protocol):
    """What the tests use of ``conftest.StoreBackend`` (conftest is not importable as a module)."""

    async def make(
        self, *, max_series_budget: int = 0, retention_seconds: float | None = None
    ) -> SnapshotStore: ...

    async def elapse(self, seconds: float) -> None: ...

    def time(self) -> float: ...


KEY_A = SnapshotKey("activity", ("acme", "widgets"))
KEY_B = SnapshotKey("copilot", ("acme", "org", "28d"))
METRICS_200 = (HTTP_REQUESTS.name, (("path", "/metrics"), ("code", "200")))
LIVEZ_200 = (HTTP_REQUESTS.name, (("path", "/livez"), ("code", "200")))
RETENTION = 0.1
PAST_RETENTION = 0.15


def snap(key: SnapshotKey, *users: str) -> Snapshot:
    samples = tuple(ACTIVITY_COMMITS.sample(1, {"org": "acme", "repo": "w", "user": u}) for u in users)
    return Snapshot(key, samples, 1000.0)


def test_redis_store_satisfies_the_protocol() -> None:
    """The Redis adapter is structurally a SnapshotStore and is built without connecting."""
    store = RedisSnapshotStore.standalone("127.0.0.1", 1)  # nothing listens there; nothing is sent
    assert isinstance(store, SnapshotStore)


async def test_counter_increments_add_up_across_writers(store_backend: Backend) -> None:
    """Two stores on the same backend see one total: the sum of everything either of them added."""
    first = await store_backend.make()
    await first.add_counters({METRICS_200: 3, LIVEZ_200: 1})
    await first.add_counters({METRICS_200: 2.5})
    assert await first.counters() == {METRICS_200: 5.5, LIVEZ_200: 1}


async def test_a_retried_counter_batch_is_applied_once(store: SnapshotStore) -> None:
    """The same batch id sent twice (a retry after an unknown outcome) counts once; new ids count again."""
    await store.add_counters({METRICS_200: 4}, batch_id="replica-a-1")
    await store.add_counters({METRICS_200: 4}, batch_id="replica-a-1")
    await store.add_counters({METRICS_200: 1}, batch_id="replica-a-2")
    assert await store.counters() == {METRICS_200: 5}


async def test_negative_counter_increments_are_rejected(store: SnapshotStore) -> None:
    """A negative increment is a caller bug and changes nothing (counters never go down)."""
    with pytest.raises(ValueError, match=">= 0"):
        await store.add_counters({METRICS_200: 1, LIVEZ_200: -1})
    assert await store.counters() == {}


async def test_empty_counter_batches_change_nothing(store: SnapshotStore) -> None:
    """Flushing no increments leaves the totals empty."""
    await store.add_counters({}, batch_id="nothing")
    assert await store.counters() == {}


async def test_series_total_follows_puts_and_deletes(store: SnapshotStore) -> None:
    """The O(1) series count equals the series of all live snapshots."""
    await store.put(snap(KEY_A, "a", "b", "c"))
    await store.put(snap(KEY_B, "d"))
    await store.put(snap(KEY_A, "a"))
    assert await store.series_total() == 2
    await store.delete(KEY_B)
    assert await store.series_total() == 1


async def test_budget_refusals_are_counted_by_kind(store_backend: Backend) -> None:
    """Series refused by the budget show in the shared counter gh_exporter_store_series_refused{kind}."""
    store = await store_backend.make(max_series_budget=2)
    await store.put(snap(KEY_A, "a", "b"))
    with pytest.raises(SeriesBudgetExceeded):
        await store.put(snap(KEY_B, "x", "y", "z"))
    with pytest.raises(SeriesBudgetExceeded):
        await store.put(snap(KEY_B, "x"))
    assert (await store.counters())[(STORE_SERIES_REFUSED.name, (("kind", "copilot"),))] == 4
    assert await store.series_total() == 2


async def test_snapshots_expire_after_retention_and_gc_forgets_them(store_backend: Backend) -> None:
    """An expired snapshot is not returned; gc drops it from versions and the series count and moves the generation."""
    store = await store_backend.make(retention_seconds=RETENTION)
    await store.put(snap(KEY_A, "a", "b"))
    await store_backend.elapse(PAST_RETENTION / 2)
    await store.put(snap(KEY_B, "c"))
    await store_backend.elapse(PAST_RETENTION / 2 + 0.01)
    assert set(await store.get_many([KEY_A, KEY_B])) == {KEY_B}
    generation = await store.generation()
    assert await store.gc(store_backend.time()) >= 1
    assert set(await store.versions()) == {KEY_B}
    assert await store.series_total() == 1
    assert await store.generation() != generation


async def test_rewriting_a_snapshot_renews_its_retention(store_backend: Backend) -> None:
    """A snapshot re-written before it expires lives for another full retention period."""
    store = await store_backend.make(retention_seconds=RETENTION)
    await store.put(snap(KEY_A, "a"))
    await store_backend.elapse(RETENTION * 0.7)
    await store.put(snap(KEY_A, "b"))
    await store_backend.elapse(RETENTION * 0.7)
    got = await store.get_many([KEY_A])
    assert got[KEY_A].samples == snap(KEY_A, "b").samples


async def test_gc_without_expired_data_changes_nothing(store: SnapshotStore, store_backend: Backend) -> None:
    """gc on a store without retention keeps every snapshot and the generation."""
    version = await store.put(snap(KEY_A, "a"))
    generation = await store.generation()
    await store.gc(store_backend.time())
    assert await store.versions() == {KEY_A: version}
    assert await store.generation() == generation


async def test_keys_and_labels_round_trip_exactly(store: SnapshotStore) -> None:
    """Keys whose parts hold separators and labels with any text come back unchanged, meta included."""
    key = SnapshotKey("copilot", ("acme/x", "org", "", "ü 1"))
    odd = Sample(ACTIVITY_COMMITS.name, (("org", 'a"b\\c\nd'), ("repo", "é"), ("user", "")), 2.5)
    inf = Sample(ACTIVITY_COMMITS.name, (("org", "o"), ("repo", "r"), ("user", "u")), float("inf"))
    version = await store.put(Snapshot(key, (odd, inf), 12.25, meta={"etag": 'W/"x"'}))
    assert await store.versions() == {key: version}
    got = (await store.get_many([key]))[key]
    assert (got.samples, got.produced_at, got.meta) == ((odd, inf), 12.25, {"etag": 'W/"x"'})
