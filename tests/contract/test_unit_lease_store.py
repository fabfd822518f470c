"""Contract of the UnitLeaseStore port (sharded collection), run against every adapter in ``STORE_PARAMS``."""

from __future__ import annotations

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.base import Fence, FencedOut, Store, UnitRenewal

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


async def test_raising_many_epochs_raises_each_on_its_own(store: Store) -> None:
    """One call for many units: each is set-if-greater by itself, and every epoch afterwards comes back."""
    others = [f"{UNIT}-{i}" for i in range(3)]
    await store.raise_unit_epoch(others[1], 20)
    assert await store.raise_unit_epochs({others[0]: 5, others[1]: 7, others[2]: 1}) == {
        others[0]: 5,
        others[1]: 20,
        others[2]: 1,
    }
    assert await store.unit_epochs(others) == {others[0]: 5, others[1]: 20, others[2]: 1}
    assert await store.raise_unit_epochs({}) == {}


async def test_raising_many_epochs_with_one_non_positive_raises_none(store: Store) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        await store.raise_unit_epochs({UNIT: 3, f"{UNIT}-x": 0})
    assert await store.unit_epochs([UNIT]) == {UNIT: 0}


@pytest.mark.parametrize("epoch", [pytest.param(0, id="zero"), pytest.param(-3, id="negative")])
async def test_raising_to_a_non_positive_epoch_is_refused(store: Store, epoch: int) -> None:
    """Epochs start at 1: a raise to 0 or below is a programming error, refused before touching the store."""
    with pytest.raises(ValueError, match="positive integer"):
        await store.raise_unit_epoch(UNIT, epoch)
    assert await store.unit_epochs([UNIT]) == {UNIT: 0}


KEPT, TAKEN, EXPIRED, NEVER = (f"repos:org/acme#{i}/4" for i in range(4))


async def test_one_batch_renewal_tells_each_unit_apart(store: Store, store_backend: StoreBackend) -> None:
    """A batch renews only the units still the holder's in its term and says who holds each lost one now."""
    kept = await store.acquire_unit(KEPT, "a", 30)
    taken = await store.acquire_unit(TAKEN, "a", 30)
    expired = await store.acquire_unit(EXPIRED, "a", 0.1)
    await store.release_unit(TAKEN, "a")
    taken_by_b = await store.acquire_unit(TAKEN, "b", 30)
    await store_backend.elapse(0.15)

    outcomes = await store.renew_units({KEPT: kept, TAKEN: taken, EXPIRED: expired, NEVER: 1}, "a", 30)

    assert outcomes == {
        KEPT: UnitRenewal(True, "a", kept),
        TAKEN: UnitRenewal(False, "b", taken_by_b),
        EXPIRED: UnitRenewal(False, "", expired),
        NEVER: UnitRenewal(False, "", 0),
    }
    assert await store.unit_holders([KEPT, TAKEN, EXPIRED]) == {
        KEPT: ("a", kept),
        TAKEN: ("b", taken_by_b),
        EXPIRED: ("", expired),
    }
    assert await store.renew_units({}, "a", 30) == {}


async def test_a_batch_renewal_of_a_stale_term_extends_nothing(
    store: Store, store_backend: StoreBackend
) -> None:
    """A holder renewing with an old epoch (it re-acquired since) loses that unit and its lease is not extended."""
    first = await store.acquire_unit(KEPT, "a", 0.2)
    second = await store.acquire_unit(KEPT, "a", 0.2)
    assert (await store.renew_units({KEPT: first}, "a", 30))[KEPT] == UnitRenewal(False, "a", second)
    await store_backend.elapse(0.25)
    assert await store.unit_holders([KEPT]) == {KEPT: ("", second)}


async def test_a_batch_acquisition_starts_a_term_of_each_unit_nobody_else_holds(store: Store) -> None:
    """Units held by another are refused (0); free ones and the holder's own get a new, higher epoch each."""
    others = await store.acquire_unit(TAKEN, "b", 30)
    own = await store.acquire_unit(KEPT, "a", 30)

    epochs = await store.acquire_units([KEPT, TAKEN, NEVER], "a", 30)

    assert epochs[TAKEN] == 0
    assert epochs[KEPT] > own
    assert epochs[NEVER] > 0
    assert await store.unit_holders([KEPT, TAKEN, NEVER]) == {
        KEPT: ("a", epochs[KEPT]),
        TAKEN: ("b", others),
        NEVER: ("a", epochs[NEVER]),
    }
    assert await store.acquire_units([], "a", 30) == {}


async def test_a_batch_release_frees_only_the_holder_s_units(store: Store) -> None:
    """Releasing a batch drops the releaser's leases at once and leaves another holder's untouched."""
    mine = await store.acquire_units([KEPT, EXPIRED], "a", 30)
    theirs = await store.acquire_unit(TAKEN, "b", 30)

    await store.release_units([KEPT, TAKEN, EXPIRED, NEVER], "a")

    assert await store.unit_holders([KEPT, TAKEN, EXPIRED]) == {
        KEPT: ("", mine[KEPT]),
        TAKEN: ("b", theirs),
        EXPIRED: ("", mine[EXPIRED]),
    }
    assert await store.acquire_unit(KEPT, "c", 30) > mine[KEPT]
