"""Contract of StoreMaintenance (gc, ping, close), the adapters' shapes, and memory-adapter specifics."""

from __future__ import annotations

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.metrics import ACTIVITY_COMMITS
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.base import (
    CheckpointStore,
    CounterStore,
    LockStore,
    SnapshotStore,
    Store,
    StoreMaintenance,
    StoreUnavailable,
)
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.store.redis import RedisSnapshotStore

KEY_A = SnapshotKey("activity", ("acme", "widgets"))
KEY_B = SnapshotKey("activity", ("acme", "gadgets"))
PORTS = (SnapshotStore, CheckpointStore, LockStore, CounterStore, StoreMaintenance, Store)


def snap(key: SnapshotKey, *users: str) -> Snapshot:
    samples = tuple(ACTIVITY_COMMITS.sample(1, {"org": "acme", "repo": "widgets", "user": u}) for u in users)
    return Snapshot(key, samples, 1000.0)


@pytest.mark.parametrize("port", [pytest.param(p, id=p.__name__) for p in PORTS])
def test_both_adapters_implement_every_port(port: type) -> None:
    """Each adapter is structurally every port; the Redis one is built without connecting."""
    redis_store = RedisSnapshotStore.standalone("127.0.0.1", 1)  # nothing listens there; nothing is sent
    assert isinstance(MemorySnapshotStore(), port)
    assert isinstance(redis_store, port)


async def test_gc_forgets_the_names_of_expired_checkpoints(store: Store, store_backend: StoreBackend) -> None:
    """After a checkpoint expired, gc reports it gone and it is not listed any more."""
    await store.set_checkpoint("cp/short", b"1", ttl_seconds=0.1)
    await store.set_checkpoint("cp/long", b"2", ttl_seconds=30)
    await store_backend.elapse(0.15)
    assert await store.gc(store_backend.time()) == 1
    assert await store.gc(store_backend.time()) == 0
    assert await store.checkpoint_names("cp/") == ["cp/long"]


async def test_ping_succeeds_on_a_working_store(store: Store) -> None:
    """ping() returns quietly while the backend serves requests."""
    await store.ping()  # the failure mode is an exception, StoreUnavailable


async def test_memory_store_counts_series() -> None:
    """series_count follows puts, replacements and deletes."""
    store = MemorySnapshotStore()
    await store.put(snap(KEY_A, "a", "b", "c"))
    await store.put(snap(KEY_B, "d"))
    await store.put(snap(KEY_A, "a"))
    assert store.series_count == 2
    await store.delete(KEY_B)
    assert store.series_count == 1


async def test_memory_store_fails_like_an_unreachable_backend_after_close() -> None:
    """Every call on a closed memory store raises StoreUnavailable."""
    async with MemorySnapshotStore() as store:
        await store.put(snap(KEY_A, "a"))
    with pytest.raises(StoreUnavailable):
        await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.versions()


def test_memory_store_rejects_a_negative_budget() -> None:
    """A negative budget is a configuration bug."""
    with pytest.raises(ValueError, match="max_series_budget"):
        MemorySnapshotStore(max_series_budget=-1)


async def test_memory_gc_drops_only_expired_records() -> None:
    """gc() removes expired checkpoints and locks and keeps live ones."""
    now = [100.0]
    store = MemorySnapshotStore(clock=lambda: now[0])
    await store.set_checkpoint("old", b"1", ttl_seconds=10)
    await store.set_checkpoint("new", b"1", ttl_seconds=100)
    await store.set_checkpoint("forever", b"1")
    assert await store.try_lock("old-lock", 10)
    assert await store.try_lock("new-lock", 100)
    now[0] += 50
    assert await store.gc(now[0]) == 2
    assert await store.gc(now[0]) == 0
    assert await store.get_checkpoint("new") is not None
    assert await store.get_checkpoint("forever") is not None
    assert not await store.try_lock("new-lock", 1)


async def test_gc_without_expired_data_changes_nothing(store: Store, store_backend: StoreBackend) -> None:
    """gc on a store without retention keeps every snapshot and the generation."""
    version = await store.put(snap(KEY_A, "a"))
    generation = await store.generation()
    await store.gc(store_backend.time())
    assert await store.versions() == {KEY_A: version}
    assert await store.generation() == generation
