"""Contract of snapshot fragments (`SnapshotStore.get_fragments`), run against every adapter.

The store keeps its encoder's bytes with each snapshot and never looks inside them, so these tests use
an encoder that spells out the users it was given: what comes back shows which write it belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.metrics import ACTIVITY_COMMITS
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.store.base import SeriesBudgetExceeded, StoredFragments

KEY_A = SnapshotKey("activity", ("acme", "widgets"))
KEY_B = SnapshotKey("activity", ("acme", "gadgets"))
RETENTION = 0.1


def users_of(samples: Sequence[Sample]) -> bytes:
    """The test encoder: the users of the samples, comma-separated."""
    return ",".join(s.label("user") or "" for s in samples).encode()


def snap(key: SnapshotKey, *users: str) -> Snapshot:
    samples = tuple(ACTIVITY_COMMITS.sample(1, {"org": "acme", "repo": "w", "user": u}) for u in users)
    return Snapshot(key, samples, 1000.0)


async def test_fragments_are_written_with_the_snapshot_and_carry_its_version(
    store_backend: StoreBackend,
) -> None:
    """Each put stores the encoder's bytes with the new version; a rewrite replaces both."""
    store = await store_backend.make(fragments=users_of)
    first = await store.put(snap(KEY_A, "alice", "bob"))
    await store.put(snap(KEY_B, "carol"))
    assert (await store.get_fragments([KEY_A]))[KEY_A] == StoredFragments(first, b"alice,bob")
    second = await store.put(snap(KEY_A, "dora"))
    got = await store.get_fragments([KEY_A, KEY_B, SnapshotKey("copilot")])
    assert got[KEY_A] == StoredFragments(second, b"dora")
    assert set(got) == {KEY_A, KEY_B}
    assert await store.get_fragments([]) == {}


async def test_a_store_without_an_encoder_keeps_no_fragments(store_backend: StoreBackend) -> None:
    """Without an encoder get_fragments returns nothing, so readers fall back to get_many."""
    store = await store_backend.make()
    await store.put(snap(KEY_A, "alice"))
    assert await store.get_fragments([KEY_A]) == {}
    assert set(await store.get_many([KEY_A])) == {KEY_A}


async def test_refused_and_deleted_snapshots_keep_fragments_consistent(store_backend: StoreBackend) -> None:
    """A put refused by the budget leaves the old fragments; a delete removes them with the snapshot."""
    store = await store_backend.make(max_series_budget=2, fragments=users_of)
    version = await store.put(snap(KEY_A, "alice"))
    with pytest.raises(SeriesBudgetExceeded):
        await store.put(snap(KEY_A, "x", "y", "z"))
    assert await store.get_fragments([KEY_A]) == {KEY_A: StoredFragments(version, b"alice")}
    await store.delete(KEY_A)
    assert await store.get_fragments([KEY_A]) == {}


async def test_fragments_expire_with_their_snapshot(store_backend: StoreBackend) -> None:
    """Past the retention the fragments are gone together with the snapshot."""
    store = await store_backend.make(retention_seconds=RETENTION, fragments=users_of)
    await store.put(snap(KEY_A, "alice"))
    await store_backend.elapse(RETENTION + 0.05)
    assert await store.get_fragments([KEY_A]) == {}
    assert await store.get_many([KEY_A]) == {}
