"""Contract of the UnitLeaseStore port (sharded collection), run against every adapter in ``STORE_PARAMS``."""

from __future__ import annotations

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.base import Fence, FencedOut, Store

UNIT = "repos:org/acme#1/4"
KEY = SnapshotKey("activity", ("acme", "api"))


async def test_live_members_are_those_that_beat_within_their_ttl(
    store: Store, store_backend: StoreBackend
) -> None:
    """A member is listed while its heartbeat lives, and gone once it expires or leaves."""
    assert await store.heartbeat("a", 30) == ["a"]
    assert await store.heartbeat("b", 0.1) == ["a", "b"]
    await store_backend.elapse(0.15)
    assert await store.heartbeat("", 30) == ["a"]
    await store.leave("a")
    assert await store.heartbeat("", 30) == []


async def test_a_unit_has_one_holder_and_every_term_a_new_epoch(store: Store) -> None:
    """While a lease lives nobody else acquires it; each acquisition starts a higher epoch."""
    first = await store.acquire_unit(UNIT, "a", 30)
    assert first > 0
    assert await store.acquire_unit(UNIT, "b", 30) == 0
    assert await store.renew_unit(UNIT, "a", first, 30)
    assert not await store.renew_unit(UNIT, "b", first, 30)
    await store.release_unit(UNIT, "b")  # not b's: nothing happens
    assert await store.acquire_unit(UNIT, "b", 30) == 0
    await store.release_unit(UNIT, "a")
    second = await store.acquire_unit(UNIT, "b", 30)
    assert second > first
    assert not await store.renew_unit(UNIT, "a", first, 30)
    assert await store.unit_epochs([UNIT, "seats:org/acme"]) == {UNIT: second, "seats:org/acme": 0}
    assert await store.unit_holders([UNIT, "seats:org/acme"]) == {
        UNIT: ("b", second),
        "seats:org/acme": ("", 0),
    }


async def test_an_expired_lease_can_be_taken_over(store: Store, store_backend: StoreBackend) -> None:
    """A holder that stops renewing loses the unit after its TTL, and cannot renew its old term."""
    first = await store.acquire_unit(UNIT, "a", 0.1)
    await store_backend.elapse(0.15)
    assert await store.unit_holders([UNIT]) == {UNIT: ("", first)}
    second = await store.acquire_unit(UNIT, "b", 30)
    assert second > first
    assert not await store.renew_unit(UNIT, "a", first, 30)


async def test_fenced_writes_of_a_stale_term_are_refused(store: Store) -> None:
    """Writes fenced with the current epoch land; after a takeover the old holder's writes are refused."""
    first = await store.acquire_unit(UNIT, "a", 30)
    snapshot = Snapshot(KEY, (), produced_at=1.0)
    assert await store.put_fenced(snapshot, Fence(UNIT, first)) > 0
    await store.set_checkpoint_fenced("activity/ledger/acme/api", b"a", 60, Fence(UNIT, first))
    await store.release_unit(UNIT, "a")
    second = await store.acquire_unit(UNIT, "b", 30)

    with pytest.raises(FencedOut) as refused:
        await store.put_fenced(Snapshot(KEY, (), produced_at=2.0), Fence(UNIT, first))
    assert (refused.value.epoch, refused.value.current) == (first, second)
    with pytest.raises(FencedOut):
        await store.set_checkpoint_fenced("activity/ledger/acme/api", b"stale", 60, Fence(UNIT, first))

    assert (await store.get_many([KEY]))[KEY].produced_at == 1.0
    assert await store.get_checkpoint("activity/ledger/acme/api") == b"a"
    await store.put_fenced(Snapshot(KEY, (), produced_at=3.0), Fence(UNIT, second))
    assert (await store.get_many([KEY]))[KEY].produced_at == 3.0


async def test_raising_an_epoch_fences_out_every_lower_term(store: Store) -> None:
    """A term leased elsewhere raises the unit's epoch before writing; lower terms are refused from then on."""
    assert await store.raise_unit_epoch(UNIT, 7) == 7
    assert await store.unit_epochs([UNIT]) == {UNIT: 7}
    with pytest.raises(FencedOut) as refused:
        await store.put_fenced(Snapshot(KEY, (), produced_at=1.0), Fence(UNIT, 6))
    assert refused.value.current == 7
    assert await store.put_fenced(Snapshot(KEY, (), produced_at=2.0), Fence(UNIT, 7)) > 0


async def test_raising_never_lowers_an_epoch(store: Store) -> None:
    """Set-if-greater: a stale term's raise leaves the higher epoch and says so, so that term never writes."""
    assert await store.raise_unit_epoch(UNIT, 9) == 9
    assert await store.raise_unit_epoch(UNIT, 4) == 9
    assert await store.raise_unit_epoch(UNIT, 9) == 9
    assert await store.unit_epochs([UNIT]) == {UNIT: 9}


@pytest.mark.parametrize("epoch", [pytest.param(0, id="zero"), pytest.param(-3, id="negative")])
async def test_raising_to_a_non_positive_epoch_is_refused(store: Store, epoch: int) -> None:
    """Epochs start at 1: a raise to 0 or below is a programming error, refused before touching the store."""
    with pytest.raises(ValueError, match="positive integer"):
        await store.raise_unit_epoch(UNIT, epoch)
    assert await store.unit_epochs([UNIT]) == {UNIT: 0}
