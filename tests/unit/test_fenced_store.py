"""The fenced store of one work unit: writes carry the unit's term, budgets and reads pass straight through."""

from __future__ import annotations

import pytest

from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.base import FencedOut
from github_stats_exporter.store.fenced import FencedStore
from github_stats_exporter.store.memory import MemorySnapshotStore

UNIT = "repos:org/acme#0/2"
KEY = SnapshotKey("activity", ("acme", "api"))


async def test_a_unit_store_writes_in_its_term_and_shares_the_orgs_budget_in_any_term() -> None:
    """Writes need the current term; the org's budget is granted to a stale holder too and counts once."""
    store = MemorySnapshotStore(clock=lambda: 1000.0)
    term = [await store.acquire_unit(UNIT, "r1", 30.0)]
    fenced = FencedStore(store, UNIT, lambda: term[0])
    await fenced.put(Snapshot(KEY, (), 1000.0))
    assert KEY in await fenced.get_many([KEY])
    assert await fenced.take_budget("loc/acme/1", 3, 5, 60.0) == 3

    await store.release_unit(UNIT, "r1")
    await store.acquire_unit(UNIT, "r2", 30.0)  # r1's term is over
    with pytest.raises(FencedOut):
        await fenced.set_checkpoint("activity/ledger/acme/api", b"x")
    assert await fenced.take_budget("loc/acme/1", 3, 5, 60.0) == 2
    assert await store.budget_used("loc/acme/1") == await fenced.budget_used("loc/acme/1") == 5

    term[0] = 0  # no term at all: nothing is written
    with pytest.raises(FencedOut):
        await fenced.put(Snapshot(KEY, (), 1001.0))
