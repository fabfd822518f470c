"""Contract of the SnapshotStore port (and its series budget), run against every adapter in ``STORE_PARAMS``."""

from __future__ import annotations

import asyncio

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.metrics import ACTIVITY_COMMITS, STORE_SERIES_REFUSED
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.store.base import SeriesBudgetExceeded, Store

KEY_A = SnapshotKey("activity", ("acme", "widgets"))
KEY_B = SnapshotKey("activity", ("acme", "gadgets"))
KEY_C = SnapshotKey("copilot", ("acme", "org", "28d"))
RETENTION = 0.1
PAST_RETENTION = 0.15


def series(*users: str, value: float = 1.0) -> tuple[Sample, ...]:
    return tuple(ACTIVITY_COMMITS.sample(value, {"org": "acme", "repo": "widgets", "user": u}) for u in users)


def snap(key: SnapshotKey, *users: str, value: float = 1.0, produced_at: float = 1000.0) -> Snapshot:
    return Snapshot(key, series(*users, value=value), produced_at)


async def test_put_then_read_returns_the_snapshot_with_its_version(store: Store) -> None:
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


async def test_put_replaces_the_whole_previous_snapshot(store: Store) -> None:
    """A second put of the same key replaces every series and gets a strictly greater version."""
    first = await store.put(snap(KEY_A, "alice", "bob"))
    second = await store.put(snap(KEY_A, "carol", value=7))
    assert second > first
    got = (await store.get_many([KEY_A]))[KEY_A]
    assert got.samples == series("carol", value=7)
    assert got.version == second


async def test_versions_are_per_key(store: Store) -> None:
    """Writing one key leaves the other key's version alone."""
    version_b = await store.put(snap(KEY_B, "x"))
    await store.put(snap(KEY_A, "y"))
    await store.put(snap(KEY_A, "z"))
    assert (await store.versions())[KEY_B] == version_b


async def test_delete_removes_the_snapshot(store: Store) -> None:
    """A deleted snapshot is gone from versions() and get_many()."""
    await store.put(snap(KEY_A, "alice"))
    await store.put(snap(KEY_B, "bob"))
    await store.delete(KEY_A)
    assert set(await store.versions()) == {KEY_B}
    assert set(await store.get_many([KEY_A, KEY_B])) == {KEY_B}


async def test_delete_of_an_unknown_key_is_a_no_op(store: Store) -> None:
    """Deleting a key that was never written does not fail and changes no snapshot."""
    version = await store.put(snap(KEY_A, "alice"))
    await store.delete(KEY_B)
    assert await store.versions() == {KEY_A: version}


async def test_rewrite_after_delete_gets_a_higher_version(store: Store) -> None:
    """A key deleted and written again never reuses a version a reader may have cached."""
    before = await store.put(snap(KEY_A, "alice"))
    await store.delete(KEY_A)
    after = await store.put(snap(KEY_A, "alice"))
    assert after > before


async def test_generation_changes_on_every_put_and_delete(store: Store) -> None:
    """Each snapshot write or delete moves the generation, so a reader never misses a change."""
    seen = [await store.generation()]
    await store.put(snap(KEY_A, "alice"))
    seen.append(await store.generation())
    await store.put(snap(KEY_A, "alice"))  # identical content still counts as a write
    seen.append(await store.generation())
    await store.delete(KEY_A)
    seen.append(await store.generation())
    assert len(set(seen)) == len(seen)


async def test_generation_is_stable_without_snapshot_writes(store: Store) -> None:
    """Reads, checkpoints and locks leave the generation alone (a reader pays nothing for them)."""
    await store.put(snap(KEY_A, "alice"))
    before = await store.generation()
    await store.versions()
    await store.get_many([KEY_A, KEY_B])
    await store.set_checkpoint("cp", b"1")
    await store.get_checkpoint("cp")
    assert await store.try_lock("lock", 5)
    await store.release_lock("lock")
    assert await store.generation() == before


async def test_get_many_skips_missing_keys(store: Store) -> None:
    """Keys that do not exist are absent from the result, and no keys means an empty result."""
    await store.put(snap(KEY_A, "alice"))
    assert set(await store.get_many([KEY_A, KEY_B, SnapshotKey("copilot")])) == {KEY_A}
    assert await store.get_many([]) == {}


async def test_concurrent_puts_get_distinct_versions(store: Store) -> None:
    """Concurrent writers to different keys all land, each with its own version."""
    keys = [SnapshotKey("activity", ("acme", f"repo{i}")) for i in range(20)]
    versions = await asyncio.gather(*(store.put(snap(k, "alice")) for k in keys))
    assert await store.versions() == dict(zip(keys, versions, strict=True))


async def test_budget_refuses_new_series_and_keeps_the_old_snapshot(store_backend: StoreBackend) -> None:
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


async def test_budget_always_allows_same_size_or_smaller_replacements(store_backend: StoreBackend) -> None:
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


async def test_zero_budget_means_unlimited(store: Store) -> None:
    """Without a budget any number of series is accepted."""
    users = [f"u{i}" for i in range(1000)]
    await store.put(snap(KEY_A, *users))
    assert len((await store.get_many([KEY_A]))[KEY_A].samples) == 1000


async def test_series_total_follows_puts_and_deletes(store: Store) -> None:
    """The O(1) series count equals the series of all live snapshots."""
    await store.put(snap(KEY_A, "a", "b", "c"))
    await store.put(snap(KEY_B, "d"))
    await store.put(snap(KEY_A, "a"))
    assert await store.series_total() == 2
    await store.delete(KEY_B)
    assert await store.series_total() == 1


async def test_budget_refusals_are_counted_by_kind(store_backend: StoreBackend) -> None:
    """Series refused by the budget show in the shared counter gh_exporter_store_series_refused{kind}."""
    store = await store_backend.make(max_series_budget=2)
    await store.put(snap(KEY_A, "a", "b"))
    with pytest.raises(SeriesBudgetExceeded):
        await store.put(snap(KEY_C, "x", "y", "z"))
    with pytest.raises(SeriesBudgetExceeded):
        await store.put(snap(KEY_C, "x"))
    assert (await store.counters())[(STORE_SERIES_REFUSED.name, (("kind", "copilot"),))] == 4
    assert await store.series_total() == 2


async def test_snapshots_expire_after_retention_and_gc_forgets_them(store_backend: StoreBackend) -> None:
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


async def test_rewriting_a_snapshot_renews_its_retention(store_backend: StoreBackend) -> None:
    """A snapshot re-written before it expires lives for another full retention period."""
    store = await store_backend.make(retention_seconds=RETENTION)
    await store.put(snap(KEY_A, "a"))
    await store_backend.elapse(RETENTION * 0.7)
    await store.put(snap(KEY_A, "b"))
    await store_backend.elapse(RETENTION * 0.7)
    got = await store.get_many([KEY_A])
    assert got[KEY_A].samples == snap(KEY_A, "b").samples


async def test_keys_and_labels_round_trip_exactly(store: Store) -> None:
    """Keys whose parts hold separators and labels with any text come back unchanged, meta included."""
    key = SnapshotKey("copilot", ("acme/x", "org", "", "ü 1"))
    odd = Sample(ACTIVITY_COMMITS.name, (("org", 'a"b\\c\nd'), ("repo", "é"), ("user", "")), 2.5)
    inf = Sample(ACTIVITY_COMMITS.name, (("org", "o"), ("repo", "r"), ("user", "u")), float("inf"))
    version = await store.put(Snapshot(key, (odd, inf), 12.25, meta={"etag": 'W/"x"'}))
    assert await store.versions() == {key: version}
    got = (await store.get_many([key]))[key]
    assert (got.samples, got.produced_at, got.meta) == ((odd, inf), 12.25, {"etag": 'W/"x"'})


async def test_keys_lists_exactly_the_keys_under_a_prefix(store: Store) -> None:
    """keys() returns the kind's keys whose parts start with the prefix, sorted; a longer name is not a match."""
    listed = [
        SnapshotKey("loc", ("acme", "widgets")),
        SnapshotKey("loc", ("acme", "gadgets")),
        SnapshotKey("loc", ("acme-labs", "widgets")),
        SnapshotKey("activity", ("acme", "widgets")),
        SnapshotKey("copilot", ("org", "acme", "users", "1d", "2026-01-02")),
        SnapshotKey("copilot", ("org", "acme", "users", "1d", "2026-01-01")),
        SnapshotKey("copilot", ("org", "acme", "users", "1d")),
        SnapshotKey("copilot", ("org", "acme", "users", "28d")),
    ]
    for key in listed:
        await store.put(snap(key, "alice"))
    assert await store.keys(SnapshotKey("loc", ("acme",))) == [listed[1], listed[0]]
    assert await store.keys(SnapshotKey("copilot", ("org", "acme", "users", "1d"))) == [
        listed[6],
        listed[5],
        listed[4],
    ]
    assert len(await store.keys(SnapshotKey("copilot"))) == 4
    assert await store.keys(SnapshotKey("loc", ("nobody",))) == []


async def test_keys_forgets_deleted_snapshots(store: Store) -> None:
    """A deleted snapshot is no longer listed."""
    await store.put(snap(KEY_A, "alice"))
    await store.put(snap(KEY_B, "bob"))
    await store.delete(KEY_A)
    assert await store.keys(SnapshotKey("activity", ("acme",))) == [KEY_B]


async def test_keys_matches_parts_with_pattern_characters_literally(store: Store) -> None:
    """Parts holding glob or quote characters are matched as plain text."""
    odd = SnapshotKey("activity", ('a*[b]"?\\', "x"))
    await store.put(snap(odd, "alice"))
    await store.put(snap(SnapshotKey("activity", ("aXb", "x")), "bob"))
    await store.put(snap(SnapshotKey("activity", ('a*[b]"!\\', "x")), "carol"))
    await store.put(snap(SnapshotKey("activity", ('a*[b]"?\\z', "x")), "dave"))
    assert await store.keys(SnapshotKey("activity", ('a*[b]"?\\',))) == [odd]


async def test_keys_finds_every_key_of_a_large_index(store: Store) -> None:
    """A prefix matching a few keys among thousands finds all of them (a store may walk its index in steps)."""
    wanted = [SnapshotKey("loc", ("acme", f"repo-{n:04d}")) for n in range(0, 2500, 100)]
    for n in range(2500):
        key = SnapshotKey("loc", ("acme" if n % 100 == 0 else "other", f"repo-{n:04d}"))
        await store.put(Snapshot(key, (), 1.0))
    assert await store.keys(SnapshotKey("loc", ("acme",))) == wanted
