"""Contract of the SnapshotStore port, run against every adapter listed in ``conftest.STORE_PARAMS``."""

from __future__ import annotations

import asyncio
from typing import Protocol

import pytest

from github_stats_exporter.metrics import ACTIVITY_COMMITS
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.store.base import SeriesBudgetExceeded, SnapshotStore, StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore


class Backend(Protocol):
    """What the tests use of ``conftest.StoreBackend`` (conftest is not importable as a module)."""

    async def make(self, *, max_series_budget: int = 0) -> SnapshotStore: ...

    async def elapse(self, seconds: float) -> None: ...


KEY_A = SnapshotKey("activity", ("acme", "widgets"))
KEY_B = SnapshotKey("activity", ("acme", "gadgets"))
TTL = 0.1
PAST_TTL = 0.15


def series(*users: str, value: float = 1.0) -> tuple[Sample, ...]:
    return tuple(ACTIVITY_COMMITS.sample(value, {"org": "acme", "repo": "widgets", "user": u}) for u in users)


def snap(key: SnapshotKey, *users: str, value: float = 1.0, produced_at: float = 1000.0) -> Snapshot:
    return Snapshot(key, series(*users, value=value), produced_at)


def test_memory_store_satisfies_the_protocol() -> None:
    """The memory adapter is structurally a SnapshotStore."""
    assert isinstance(MemorySnapshotStore(), SnapshotStore)


async def test_put_then_read_returns_the_snapshot_with_its_version(store: SnapshotStore) -> None:
    """A written snapshot comes back with the same samples, timestamps and meta, stamped with its version."""
    original = Snapshot(KEY_A, series("alice", "bob"), 1234.5, meta={"etag": "abc"})
    version = await store.put(original)
    assert version > 0
    assert await store.versions() == {KEY_A: version}
    got = (await store.get_many([KEY_A]))[KEY_A]
    assert got.version == version
    assert got.samples == original.samples
    assert got.produced_at == 1234.5
    assert got.meta == {"etag": "abc"}


async def test_put_replaces_the_whole_previous_snapshot(store: SnapshotStore) -> None:
    """A second put of the same key replaces every series and gets a strictly greater version."""
    first = await store.put(snap(KEY_A, "alice", "bob"))
    second = await store.put(snap(KEY_A, "carol", value=7))
    assert second > first
    got = (await store.get_many([KEY_A]))[KEY_A]
    assert got.samples == series("carol", value=7)
    assert got.version == second


async def test_versions_are_per_key(store: SnapshotStore) -> None:
    """Writing one key leaves the other key's version alone."""
    version_b = await store.put(snap(KEY_B, "x"))
    await store.put(snap(KEY_A, "y"))
    await store.put(snap(KEY_A, "z"))
    assert (await store.versions())[KEY_B] == version_b


async def test_delete_removes_the_snapshot(store: SnapshotStore) -> None:
    """A deleted snapshot is gone from versions() and get_many()."""
    await store.put(snap(KEY_A, "alice"))
    await store.put(snap(KEY_B, "bob"))
    await store.delete(KEY_A)
    assert set(await store.versions()) == {KEY_B}
    assert set(await store.get_many([KEY_A, KEY_B])) == {KEY_B}


async def test_delete_of_an_unknown_key_is_a_no_op(store: SnapshotStore) -> None:
    """Deleting a key that was never written does not fail and changes no snapshot."""
    version = await store.put(snap(KEY_A, "alice"))
    await store.delete(KEY_B)
    assert await store.versions() == {KEY_A: version}


async def test_rewrite_after_delete_gets_a_higher_version(store: SnapshotStore) -> None:
    """A key deleted and written again never reuses a version a reader may have cached."""
    before = await store.put(snap(KEY_A, "alice"))
    await store.delete(KEY_A)
    after = await store.put(snap(KEY_A, "alice"))
    assert after > before


async def test_generation_changes_on_every_put_and_delete(store: SnapshotStore) -> None:
    """Each snapshot write or delete moves the generation, so a reader never misses a change."""
    seen = [await store.generation()]
    await store.put(snap(KEY_A, "alice"))
    seen.append(await store.generation())
    await store.put(snap(KEY_A, "alice"))  # identical content still counts as a write
    seen.append(await store.generation())
    await store.delete(KEY_A)
    seen.append(await store.generation())
    assert len(set(seen)) == len(seen)


async def test_generation_is_stable_without_snapshot_writes(store: SnapshotStore) -> None:
    """Reads, checkpoints and locks leave the generation alone (a reader pays nothing for them)."""
    await store.put(snap(KEY_A, "alice"))
    before = await store.generation()
    await store.versions()
    await store.get_many([KEY_A, KEY_B])
    await store.set_checkpoint("cp", {"since": "1"})
    await store.get_checkpoint("cp")
    assert await store.try_lock("lock", 5)
    await store.release_lock("lock")
    assert await store.generation() == before


async def test_get_many_skips_missing_keys(store: SnapshotStore) -> None:
    """Keys that do not exist are absent from the result, and no keys means an empty result."""
    await store.put(snap(KEY_A, "alice"))
    assert set(await store.get_many([KEY_A, KEY_B, SnapshotKey("copilot")])) == {KEY_A}
    assert await store.get_many([]) == {}


async def test_concurrent_puts_get_distinct_versions(store: SnapshotStore) -> None:
    """Concurrent writers to different keys all land, each with its own version."""
    keys = [SnapshotKey("activity", ("acme", f"repo{i}")) for i in range(20)]
    versions = await asyncio.gather(*(store.put(snap(k, "alice")) for k in keys))
    assert await store.versions() == dict(zip(keys, versions, strict=True))


async def test_checkpoint_round_trip_and_replace(store: SnapshotStore) -> None:
    """A checkpoint reads back as written, a second write replaces it, unknown names read as None."""
    assert await store.get_checkpoint("activity/acme") is None
    await store.set_checkpoint("activity/acme", {"since": "2026-01-01T00:00:00Z", "etag": "x"})
    assert dict(await store.get_checkpoint("activity/acme") or {}) == {
        "since": "2026-01-01T00:00:00Z",
        "etag": "x",
    }
    await store.set_checkpoint("activity/acme", {"since": "later"})
    assert dict(await store.get_checkpoint("activity/acme") or {}) == {"since": "later"}


async def test_checkpoint_is_a_copy_of_the_input(store: SnapshotStore) -> None:
    """Mutating the dict after writing it does not change the stored checkpoint."""
    value = {"since": "1"}
    await store.set_checkpoint("cp", value)
    value["since"] = "2"
    assert dict(await store.get_checkpoint("cp") or {}) == {"since": "1"}


async def test_checkpoint_expires_after_its_ttl(store: SnapshotStore, store_backend: Backend) -> None:
    """A checkpoint with a TTL reads as None once the TTL has passed; one without a TTL stays."""
    await store.set_checkpoint("short", {"a": "1"}, ttl_seconds=TTL)
    await store.set_checkpoint("forever", {"b": "2"})
    assert await store.get_checkpoint("short") is not None
    await store_backend.elapse(PAST_TTL)
    assert await store.get_checkpoint("short") is None
    assert dict(await store.get_checkpoint("forever") or {}) == {"b": "2"}


async def test_lock_is_exclusive_until_released(store: SnapshotStore) -> None:
    """A held lock refuses a second taker until it is released; other names are independent."""
    assert await store.try_lock("job/1", 30)
    assert not await store.try_lock("job/1", 30)
    assert await store.try_lock("job/2", 30)
    await store.release_lock("job/1")
    assert await store.try_lock("job/1", 30)


async def test_lock_expires_after_its_ttl(store: SnapshotStore, store_backend: Backend) -> None:
    """A lock nobody releases frees itself after its TTL."""
    assert await store.try_lock("job/1", TTL)
    await store_backend.elapse(PAST_TTL)
    assert await store.try_lock("job/1", 30)


async def test_release_of_an_unheld_lock_is_a_no_op(store: SnapshotStore) -> None:
    """Releasing a lock nobody holds does not fail."""
    await store.release_lock("never-taken")
    assert await store.try_lock("never-taken", 30)


@pytest.mark.parametrize("ttl", [pytest.param(0, id="zero"), pytest.param(-1.5, id="negative")])
async def test_non_positive_ttls_are_rejected(store: SnapshotStore, ttl: float) -> None:
    """A TTL of zero or less is a caller bug and raises ValueError instead of writing a dead record."""
    with pytest.raises(ValueError, match="ttl"):
        await store.try_lock("job", ttl)
    with pytest.raises(ValueError, match="ttl"):
        await store.set_checkpoint("cp", {"a": "1"}, ttl_seconds=ttl)


async def test_ping_succeeds_on_a_working_store(store: SnapshotStore) -> None:
    """ping() returns quietly while the backend serves requests."""
    await store.ping()  # the failure mode is an exception, StoreUnavailable


async def test_budget_refuses_new_series_and_keeps_the_old_snapshot(store_backend: Backend) -> None:
    """A put that would raise the series count over the budget fails and changes nothing."""
    store = await store_backend.make(max_series_budget=5)
    version_a = await store.put(snap(KEY_A, "a1", "a2", "a3"))
    generation = await store.generation()
    with pytest.raises(SeriesBudgetExceeded) as excinfo:
        await store.put(snap(KEY_B, "b1", "b2", "b3"))
    assert (excinfo.value.key, excinfo.value.new_series, excinfo.value.budget) == (KEY_B, 3, 5)
    with pytest.raises(SeriesBudgetExceeded):
        await store.put(snap(KEY_A, "a1", "a2", "a3", "a4", "a5", "a6"))
    assert await store.versions() == {KEY_A: version_a}
    assert (await store.get_many([KEY_A]))[KEY_A].samples == series("a1", "a2", "a3")
    assert await store.generation() == generation


async def test_budget_always_allows_same_size_or_smaller_replacements(store_backend: Backend) -> None:
    """At a full budget a snapshot can still be replaced by one with as many or fewer series."""
    store = await store_backend.make(max_series_budget=5)
    await store.put(snap(KEY_A, "a1", "a2", "a3"))
    await store.put(snap(KEY_B, "b1", "b2"))
    await store.put(snap(KEY_A, "x1", "x2", "x3"))
    await store.put(snap(KEY_A, "x1", "x2"))
    await store.put(snap(KEY_B, "b1", "b2", "b3"))  # uses the series A gave back
    with pytest.raises(SeriesBudgetExceeded):
        await store.put(snap(SnapshotKey("copilot"), "c1"))
    await store.delete(KEY_B)
    await store.put(snap(SnapshotKey("copilot"), "c1"))
    assert set(await store.versions()) == {KEY_A, SnapshotKey("copilot")}


async def test_zero_budget_means_unlimited(store: SnapshotStore) -> None:
    """Without a budget any number of series is accepted."""
    users = [f"u{i}" for i in range(1000)]
    await store.put(snap(KEY_A, *users))
    assert len((await store.get_many([KEY_A]))[KEY_A].samples) == 1000


# --- memory-adapter specifics (not part of the port) ----------------------------------------------


async def test_memory_gc_drops_only_expired_records() -> None:
    """gc() removes expired checkpoints and locks and keeps live ones."""
    now = [100.0]
    store = MemorySnapshotStore(clock=lambda: now[0])
    await store.set_checkpoint("old", {"a": "1"}, ttl_seconds=10)
    await store.set_checkpoint("new", {"a": "1"}, ttl_seconds=100)
    await store.set_checkpoint("forever", {"a": "1"})
    assert await store.try_lock("old-lock", 10)
    assert await store.try_lock("new-lock", 100)
    now[0] += 50
    assert await store.gc(now[0]) == 2
    assert await store.gc(now[0]) == 0
    assert await store.get_checkpoint("new") is not None
    assert await store.get_checkpoint("forever") is not None
    assert not await store.try_lock("new-lock", 1)


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
