"""Sharded collection's membership and unit leases on Kubernetes Leases, against the fake Lease API.

The fences live in a memory store, as they live in Redis in production: every acquisition must have
raised the unit's epoch there before it is handed out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.lease_api import NAMESPACE, FakeLeaseApi

from github_stats_exporter.leader.base import LeaseError
from github_stats_exporter.leader.kubernetes import ApiServer
from github_stats_exporter.leader.kubernetes_units import (
    GROUP_LABEL,
    KEY_ANNOTATION,
    KIND_LABEL,
    MAX_CONCURRENT_WRITES,
    KubernetesUnitLeases,
    parse_lease,
)
from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.leader.lease_names import DNS_SUBDOMAIN, group_label, lease_object_name
from github_stats_exporter.leader.shards import Held, ShardCoordinator
from github_stats_exporter.leader.units import assign, plan_units
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.base import Fence, FencedOut, StoreUnavailable, UnitFenceStore, UnitRenewal
from github_stats_exporter.store.memory import MemorySnapshotStore

from .conftest import ManualClock

GROUP = "gse-leader"
UNIT = "repos:org/Acme#1/4"
TTL = 10.0
KEY = SnapshotKey("activity", ("acme", "api"))


class FlakyFences(MemorySnapshotStore):
    """A memory store whose next ``fail_raises`` epoch raises answer like an unreachable Redis."""

    fail_raises = 0
    ahead_by = 0
    """A later term's raise lands first, between this replica's read of the epoch and its own raise."""

    async def raise_unit_epoch(self, unit: str, epoch: int) -> int:
        if self.fail_raises:
            self.fail_raises -= 1
            msg = "redis down"
            raise StoreUnavailable(msg)
        if self.ahead_by:
            await super().raise_unit_epoch(unit, epoch + self.ahead_by)
            self.ahead_by = 0
        return await super().raise_unit_epoch(unit, epoch)


@pytest.fixture
def fences(clock: ManualClock) -> FlakyFences:
    return FlakyFences(clock=clock)


@pytest.fixture
async def make_leases(
    lease_api: FakeLeaseApi, clock: ManualClock, fences: FlakyFences, tmp_path: Path
) -> AsyncIterator[Callable[..., KubernetesUnitLeases]]:
    """Unit leases of one replica each, on the fake API with the token ``token-<name>``."""
    made: list[KubernetesUnitLeases] = []

    def make(
        name: str, group: str = GROUP, fence_store: UnitFenceStore | None = None, units: tuple[str, ...] = ()
    ) -> KubernetesUnitLeases:
        token = tmp_path / f"token-{name}"
        token.write_text(f"token-{name}")
        leases = KubernetesUnitLeases(
            ApiServer(lease_api.base_url, token_path=token),
            namespace=NAMESPACE,
            group=group,
            fences=fence_store or fences,
            clock=clock,
            wall=clock.wall,
            units=units,
        )
        made.append(leases)
        return leases

    yield make
    for leases in made:
        await leases.close()


def lease_of(api: FakeLeaseApi, name: str) -> dict[str, Any]:
    return api.leases[(NAMESPACE, name)]


async def test_a_heartbeat_creates_a_labelled_member_lease(lease_api, make_leases) -> None:
    """The first beat LISTs by the group's label selector, then POSTs a member Lease naming the replica."""
    a = make_leases("pod-a")

    assert await a.heartbeat("pod-a", TTL) == ["pod-a"]

    assert [s.method for s in lease_api.seen] == ["GET", "POST"]
    lease = lease_of(lease_api, a.member_lease("pod-a"))
    assert lease["spec"]["holderIdentity"] == "pod-a"
    assert lease["spec"]["leaseDurationSeconds"] == 10
    assert lease["metadata"]["labels"][KIND_LABEL] == "member"
    assert lease["metadata"]["annotations"][KEY_ANNOTATION] == "pod-a"
    assert f"{GROUP_LABEL}=" in a.selector
    assert DNS_SUBDOMAIN.fullmatch(a.member_lease("pod-a"))


async def test_renewals_put_the_listed_resource_version(lease_api, make_leases, clock) -> None:
    """A later beat PUTs the member Lease with the resourceVersion its LIST returned: one LIST, one PUT."""
    a = make_leases("pod-a")
    await a.heartbeat("pod-a", TTL)
    version = lease_of(lease_api, a.member_lease("pod-a"))["metadata"]["resourceVersion"]
    clock.advance(2.0)
    lease_api.seen.clear()

    await a.heartbeat("pod-a", TTL)

    assert [s.method for s in lease_api.seen] == ["GET", "PUT"]
    put = lease_api.seen[-1].body
    assert put is not None
    assert put["metadata"]["resourceVersion"] == version


async def test_members_are_live_until_unchanged_for_a_lease_as_observed(
    lease_api, make_leases, clock
) -> None:
    """A member that stops beating stays live for a full lease on the others' clocks, then is gone and deleted."""
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await b.heartbeat("pod-b", TTL)
    assert await a.heartbeat("pod-a", TTL) == ["pod-a", "pod-b"]
    clock.advance(9.9)
    assert await a.heartbeat("pod-a", TTL) == ["pod-a", "pod-b"]
    clock.advance(0.1)

    assert await a.heartbeat("pod-a", TTL) == ["pod-a"]
    assert (NAMESPACE, b.member_lease("pod-b")) not in lease_api.leases  # a dead pod's Lease is removed


async def test_leaving_deletes_the_member_lease_at_once(lease_api, make_leases) -> None:
    """A replica that leaves (SIGTERM) deletes its member Lease, so the others drop it on their next LIST."""
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await a.heartbeat("pod-a", TTL)
    await b.heartbeat("pod-b", TTL)

    await b.leave("pod-b")

    assert (NAMESPACE, b.member_lease("pod-b")) not in lease_api.leases
    assert await a.heartbeat("pod-a", TTL) == ["pod-a"]


async def test_an_acquisition_raises_the_fence_before_it_is_handed_out(
    lease_api, make_leases, fences
) -> None:
    """The first term is leaseTransitions 1, and the store's epoch is 1 already when acquire returns."""
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await a.heartbeat("pod-a", TTL)

    epoch = await a.acquire_unit(UNIT, "pod-a", TTL)

    assert epoch == 1
    spec = lease_of(lease_api, a.unit_lease(UNIT))["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("pod-a", 1)
    assert await fences.unit_epochs([UNIT]) == {UNIT: 1}
    assert await fences.put_fenced(Snapshot(KEY, (), 1.0), Fence(UNIT, epoch)) > 0
    await b.heartbeat("pod-b", TTL)
    assert await b.acquire_unit(UNIT, "pod-b", TTL) == 0
    assert await b.unit_holders([UNIT, "seats:org/acme"]) == {UNIT: ("pod-a", 1), "seats:org/acme": ("", 0)}


async def test_a_takeover_after_expiry_fences_the_old_holder_out(
    lease_api, make_leases, fences, clock
) -> None:
    """Once the holder stopped renewing for a lease, another takes over in a higher term; the old one is refused."""
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await a.heartbeat("pod-a", TTL)
    first = await a.acquire_unit(UNIT, "pod-a", TTL)
    await b.heartbeat("pod-b", TTL)
    clock.advance(9.9)
    await b.heartbeat("pod-b", TTL)
    assert await b.acquire_unit(UNIT, "pod-b", TTL) == 0
    clock.advance(0.1)
    await b.heartbeat("pod-b", TTL)

    second = await b.acquire_unit(UNIT, "pod-b", TTL)

    assert second == first + 1
    assert lease_of(lease_api, b.unit_lease(UNIT))["spec"]["leaseTransitions"] == second
    with pytest.raises(FencedOut):
        await fences.put_fenced(Snapshot(KEY, (), 2.0), Fence(UNIT, first))
    await a.heartbeat("pod-a", TTL)
    assert not await a.renew_unit(UNIT, "pod-a", first, TTL)


async def test_renewing_keeps_the_term_and_a_lost_race_ends_it(lease_api, make_leases, clock) -> None:
    """A renewal PUTs a new renewTime in the same term; a 409 on that PUT means the term is over."""
    a = make_leases("pod-a")
    await a.heartbeat("pod-a", TTL)
    epoch = await a.acquire_unit(UNIT, "pod-a", TTL)
    clock.advance(2.0)
    await a.heartbeat("pod-a", TTL)

    assert await a.renew_unit(UNIT, "pod-a", epoch, TTL)
    assert lease_of(lease_api, a.unit_lease(UNIT))["spec"]["leaseTransitions"] == epoch
    assert not await a.renew_unit(UNIT, "pod-a", epoch + 1, TTL)  # not the term it holds
    lease_api.fail_next("PUT", 409)
    assert not await a.renew_unit(UNIT, "pod-a", epoch, TTL)


async def test_a_batch_renewal_puts_its_leases_concurrently_and_tells_each_unit_apart(
    lease_api, make_leases, clock
) -> None:
    """Renewing 20 units sends their PUTs together, at most MAX_CONCURRENT_WRITES at once; a PUT that
    loses its race ends that unit's term only, naming no holder the cache does not know."""
    a = make_leases("pod-a")
    units = [f"repos:org/acme#{i}/20" for i in range(20)]
    await a.heartbeat("pod-a", TTL)
    epochs = await a.acquire_units(units, "pod-a", TTL)
    assert all(epochs.values())
    clock.advance(2.0)
    await a.heartbeat("pod-a", TTL)

    lease_api.hold_puts, lease_api.most_puts_in_flight = MAX_CONCURRENT_WRITES, 0
    lease_api.fail_next("PUT", 409)
    async with asyncio.timeout(10):  # PUTs sent one by one would wait here for ever
        outcomes = await a.renew_units(epochs, "pod-a", TTL)

    assert lease_api.most_puts_in_flight == MAX_CONCURRENT_WRITES
    lost = [unit for unit, outcome in outcomes.items() if not outcome.renewed]
    assert len(lost) == 1
    kept = [unit for unit in units if unit not in lost]
    assert {unit: outcomes[unit] for unit in kept} == {
        unit: UnitRenewal(True, "pod-a", epochs[unit]) for unit in kept
    }
    assert outcomes[lost[0]].epoch == epochs[lost[0]]


class CountingFences(MemorySnapshotStore):
    """A memory store counting the fence-raising calls it gets."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)
        self.batches: list[int] = []

    async def raise_unit_epochs(self, epochs: Mapping[str, int]) -> dict[str, int]:
        self.batches.append(len(epochs))
        return await super().raise_unit_epochs(epochs)


async def test_a_renewal_round_raises_every_fence_in_one_store_call(lease_api, make_leases, clock) -> None:
    """20 renewals, one fence call (one Redis script): the round's store cost does not grow with the units."""
    counting = CountingFences(clock)
    a = make_leases("pod-a", fence_store=counting)
    units = [f"repos:org/acme#{i}/20" for i in range(20)]
    await a.heartbeat("pod-a", TTL)
    epochs = await a.acquire_units(units, "pod-a", TTL)
    clock.advance(2.0)
    counting.batches.clear()

    lease_api.fail_next("PUT", 409)  # one unit's PUT loses its race: its fence is not raised
    outcomes = await a.renew_units(epochs, "pod-a", TTL)

    assert counting.batches == [19]
    assert sum(outcome.renewed for outcome in outcomes.values()) == 19


async def test_a_batch_with_a_failed_put_fails_once_every_put_has_ended(
    lease_api, make_leases, clock
) -> None:
    """A PUT answered 503 fails the batch with a LeaseError, raised only after the other PUTs ended."""
    a = make_leases("pod-a")
    units = [f"repos:org/acme#{i}/4" for i in range(4)]
    await a.heartbeat("pod-a", TTL)
    epochs = await a.acquire_units(units, "pod-a", TTL)
    acquired_at = lease_of(lease_api, a.unit_lease(units[0]))["spec"]["renewTime"]
    clock.advance(2.0)
    lease_api.seen.clear()
    lease_api.fail_next("PUT", 503)

    with pytest.raises(LeaseError):
        await a.renew_units(epochs, "pod-a", TTL)

    assert [seen.method for seen in lease_api.seen] == ["PUT"] * len(units)
    renewed = [lease_of(lease_api, a.unit_lease(unit))["spec"]["renewTime"] != acquired_at for unit in units]
    assert sorted(renewed) == [False, True, True, True]  # the other three PUTs landed, none was cut off


class RestartableRedis:
    """The fence port over a memory store that `lose_data` replaces with an empty one (a Redis restarted
    without persistence)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.store = MemorySnapshotStore(clock=clock)

    def lose_data(self) -> None:
        self.store = MemorySnapshotStore(clock=self.clock)

    async def unit_epochs(self, units: Iterable[str]) -> dict[str, int]:
        return await self.store.unit_epochs(units)

    async def raise_unit_epoch(self, unit: str, epoch: int) -> int:
        return await self.store.raise_unit_epoch(unit, epoch)

    async def raise_unit_epochs(self, epochs: Mapping[str, int]) -> dict[str, int]:
        return await self.store.raise_unit_epochs(epochs)

    async def put_fenced(self, snapshot: Snapshot, fence: Fence) -> int:
        return await self.store.put_fenced(snapshot, fence)

    async def set_checkpoint_fenced(
        self, name: str, value: bytes, ttl_seconds: float | None, fence: Fence
    ) -> None:
        await self.store.set_checkpoint_fenced(name, value, ttl_seconds, fence)


async def fences_at(leases: KubernetesUnitLeases, redis: RestartableRedis, terms: int) -> None:
    """Let ``terms`` acquisitions and releases pass, so the unit's epoch is ``terms``."""
    for _ in range(terms):
        await leases.acquire_unit(UNIT, "pod-a", TTL)
        await leases.release_unit(UNIT, "pod-a")
    assert await redis.unit_epochs([UNIT]) == {UNIT: terms}


async def test_a_renewal_gives_a_redis_that_lost_its_data_the_epoch_back(
    lease_api, make_leases, clock
) -> None:
    """After Redis lost every epoch, the holder's next renewal restores its term's epoch, so its writes
    land again and a stale term's are refused."""
    redis = RestartableRedis(clock)
    a = make_leases("pod-a", fence_store=redis)
    await a.heartbeat("pod-a", TTL)
    await fences_at(a, redis, 3)
    epoch = await a.acquire_unit(UNIT, "pod-a", TTL)
    redis.lose_data()
    with pytest.raises(FencedOut):
        await redis.put_fenced(Snapshot(KEY, (), 1.0), Fence(UNIT, epoch))
    clock.advance(2.0)
    await a.heartbeat("pod-a", TTL)

    assert await a.renew_unit(UNIT, "pod-a", epoch, TTL)

    assert await redis.unit_epochs([UNIT]) == {UNIT: epoch}
    assert await redis.put_fenced(Snapshot(KEY, (), 2.0), Fence(UNIT, epoch)) > 0
    with pytest.raises(FencedOut):
        await redis.put_fenced(Snapshot(KEY, (), 3.0), Fence(UNIT, epoch - 1))


async def test_a_renewal_that_finds_a_later_term_in_the_store_ends_its_own(
    lease_api, make_leases, fences
) -> None:
    """A holder whose renewal finds a higher epoch in the store gives the unit up (its term is over)."""
    a = make_leases("pod-a")
    await a.heartbeat("pod-a", TTL)
    epoch = await a.acquire_unit(UNIT, "pod-a", TTL)
    await fences.raise_unit_epoch(UNIT, epoch + 1)
    await a.heartbeat("pod-a", TTL)

    assert not await a.renew_unit(UNIT, "pod-a", epoch, TTL)


async def test_concurrent_acquisitions_elect_one_holder(lease_api, make_leases, fences) -> None:
    """Two replicas creating the same unit Lease at once: the API accepts one POST, the other gets 0."""
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await a.heartbeat("pod-a", TTL)
    await b.heartbeat("pod-b", TTL)

    results = await asyncio.gather(a.acquire_unit(UNIT, "pod-a", TTL), b.acquire_unit(UNIT, "pod-b", TTL))

    assert sorted(results) == [0, 1]
    winner = "pod-a" if results[0] else "pod-b"
    assert lease_of(lease_api, a.unit_lease(UNIT))["spec"]["holderIdentity"] == winner
    assert await fences.unit_epochs([UNIT]) == {UNIT: 1}


async def test_a_store_ahead_of_the_lease_starts_the_term_above_it(lease_api, make_leases, fences) -> None:
    """Epochs left in Redis (Redis leases before, or deleted Leases) are never reused: the term starts above."""
    await fences.raise_unit_epoch(UNIT, 41)
    a = make_leases("pod-a")
    await a.heartbeat("pod-a", TTL)

    assert await a.acquire_unit(UNIT, "pod-a", TTL) == 42
    assert lease_of(lease_api, a.unit_lease(UNIT))["spec"]["leaseTransitions"] == 42


async def test_a_failed_fence_raise_hands_out_nothing(lease_api, make_leases, fences) -> None:
    """When the store cannot raise the epoch the unit is not collected; the next try starts a new term."""
    a = make_leases("pod-a")
    await a.heartbeat("pod-a", TTL)
    fences.fail_raises = 1

    with pytest.raises(StoreUnavailable):
        await a.acquire_unit(UNIT, "pod-a", TTL)
    assert await fences.unit_epochs([UNIT]) == {UNIT: 0}
    await a.heartbeat("pod-a", TTL)

    assert await a.acquire_unit(UNIT, "pod-a", TTL) == 2
    assert await fences.unit_epochs([UNIT]) == {UNIT: 2}


async def test_a_term_already_passed_in_the_store_is_not_handed_out(lease_api, make_leases, fences) -> None:
    """When the store holds a later epoch by the time the fence is raised, the won Lease's term is over
    before it began: nothing is handed out, and the next attempt starts above the store's epoch."""
    a = make_leases("pod-a")
    await a.heartbeat("pod-a", TTL)
    fences.ahead_by = 5

    assert await a.acquire_unit(UNIT, "pod-a", TTL) == 0
    assert await fences.unit_epochs([UNIT]) == {UNIT: 6}
    await a.heartbeat("pod-a", TTL)

    assert await a.acquire_unit(UNIT, "pod-a", TTL) == 7
    assert await fences.unit_epochs([UNIT]) == {UNIT: 7}


async def test_a_release_clears_the_holder_for_an_immediate_takeover(lease_api, make_leases) -> None:
    """Releasing empties holderIdentity (duration 1 s), so the next owner acquires on its next round."""
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await a.heartbeat("pod-a", TTL)
    first = await a.acquire_unit(UNIT, "pod-a", TTL)
    await b.heartbeat("pod-b", TTL)

    await a.release_unit(UNIT, "pod-b")  # not pod-b's: nothing happens
    assert lease_of(lease_api, a.unit_lease(UNIT))["spec"]["holderIdentity"] == "pod-a"
    await a.release_unit(UNIT, "pod-a")

    spec = lease_of(lease_api, a.unit_lease(UNIT))["spec"]
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"]) == ("", 1)
    await b.heartbeat("pod-b", TTL)
    assert await b.acquire_unit(UNIT, "pod-b", TTL) == first + 1


async def test_leases_of_units_no_longer_configured_are_deleted_once_nobody_holds_them(
    lease_api, make_leases, clock
) -> None:
    """After `shards` was lowered, a released or expired Lease of a removed unit is deleted; a held one stays."""
    old = make_leases("pod-old")
    await old.heartbeat("pod-old", TTL)
    for unit in ("repos:org/acme#0/3", "repos:org/acme#1/3", "repos:org/acme#2/3"):
        await old.acquire_unit(unit, "pod-old", TTL)
    await old.release_unit("repos:org/acme#1/3", "pod-old")
    new = make_leases("pod-new", units=("repos:org/acme#0/2", "repos:org/acme#1/2"))
    await new.acquire_unit("repos:org/acme#0/2", "pod-new", TTL)

    await new.heartbeat("pod-new", TTL)

    assert (NAMESPACE, old.unit_lease("repos:org/acme#1/3")) not in lease_api.leases  # released: deleted
    assert (NAMESPACE, old.unit_lease("repos:org/acme#2/3")) in lease_api.leases  # held: kept
    assert (NAMESPACE, new.unit_lease("repos:org/acme#0/2")) in lease_api.leases  # configured: kept
    clock.advance(TTL)  # the old replica is gone: its Leases expire

    await new.heartbeat("pod-new", TTL)

    units = {lease["metadata"]["annotations"][KEY_ANNOTATION] for lease in lease_api.leases.values()}
    assert "repos:org/acme#0/3" not in units
    assert "repos:org/acme#2/3" not in units
    assert "repos:org/acme#0/2" in units  # expired but configured: a unit Lease keeps its term


async def test_without_a_unit_list_no_unit_lease_is_deleted(lease_api, make_leases, clock) -> None:
    """Leases built without the configuration's units (tools, tests) never delete a unit Lease."""
    a = make_leases("pod-a")
    await a.acquire_unit(UNIT, "pod-a", TTL)
    await a.release_unit(UNIT, "pod-a")
    clock.advance(TTL)

    await make_leases("pod-b").heartbeat("pod-b", TTL)

    assert (NAMESPACE, a.unit_lease(UNIT)) in lease_api.leases


async def test_other_leases_of_the_namespace_are_not_listed(lease_api, make_leases, make_elector) -> None:
    """The leader Lease and other groups' Leases are outside the label selector: not members, not units."""
    await make_elector("pod-z").step()
    await make_leases("pod-b", group="another-deployment").heartbeat("pod-b", TTL)
    a = make_leases("pod-a")

    assert await a.heartbeat("pod-a", TTL) == ["pod-a"]
    assert len(lease_api.leases) == 3
    assert all(
        "labelSelector" in seen.query for seen in lease_api.seen if seen.method == "GET" and seen.query
    )


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        pytest.param({"kind": "Status"}, "without an items list", id="no-items"),
        pytest.param({"items": {"a": 1}}, "without an items list", id="items-not-a-list"),
    ],
)
async def test_a_malformed_listing_is_a_lease_error(lease_api, make_leases, answer, problem) -> None:
    """A LIST answer that is not a Lease list is a clear `LeaseError`, retried like any other failure."""
    a = make_leases("pod-a")
    lease_api.answer_next("GET", 200, answer)

    with pytest.raises(LeaseError, match=problem) as failed:
        await a.heartbeat("pod-a", TTL)
    assert failed.value.reason == "rejected"


async def test_malformed_lease_objects_are_skipped_not_fatal(lease_api, make_leases, clock, fences) -> None:
    """A broken member Lease is not a live member; a broken unit Lease has no holder until it expires, then
    it is rewritten whole; the rest of the listing still works."""
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await b.heartbeat("pod-b", TTL)
    await b.acquire_unit(UNIT, "pod-b", TTL)
    lease_api.spec(b.member_lease("pod-b"))["leaseDurationSeconds"] = "ten"
    lease_api.spec(b.unit_lease(UNIT))["leaseTransitions"] = "many"
    labels = dict(lease_api.lease(b.unit_lease(UNIT))["metadata"]["labels"])
    lease_api.leases[(NAMESPACE, "junk")] = {"metadata": {"name": "junk", "labels": labels}, "spec": []}

    assert await a.heartbeat("pod-a", TTL) == ["pod-a"]
    assert await a.unit_holders([UNIT]) == {UNIT: ("", 0)}
    assert await a.acquire_unit(UNIT, "pod-a", TTL) == 0  # unknown holder: wait out a full lease
    clock.advance(10.0)
    await a.heartbeat("pod-a", TTL)

    epoch = await a.acquire_unit(UNIT, "pod-a", TTL)

    assert epoch == 2  # above the store's epoch of pod-b's term
    assert lease_api.spec(a.unit_lease(UNIT))["leaseTransitions"] == epoch


UNITS = plan_units({"acme": 4, "umbrella": 2}, copilot=["org/acme"])
TIMINGS = LeaseTimings(lease_duration=10.0, renew_deadline=6.0, retry_period=2.0)


async def test_coordinators_share_units_cheaply_and_drop_them_when_the_api_is_gone(
    lease_api, make_leases, clock
) -> None:
    """Three coordinators on Leases settle on the rendezvous assignment, then renew with one LIST and one PUT
    per Lease held; one cut off from the API for renew_deadline drops every unit before its Leases expire."""
    held: dict[str, list[Held]] = {}
    coordinators = {}
    for name in ("a", "b", "c"):
        held[name] = []
        coordinators[name] = ShardCoordinator(
            make_leases(name), identity=name, units=UNITS, timings=TIMINGS, clock=clock
        )

    for _ in range(4):
        for name, coordinator in coordinators.items():
            await coordinator.step(held[name].append)
        clock.advance(TIMINGS.retry_period)

    expected = assign(UNITS, ["a", "b", "c"])
    for name, coordinator in coordinators.items():
        assert set(coordinator.held) == {unit.name for unit in expected[name]}
    unit_leases = [
        lease for lease in lease_api.leases.values() if lease["metadata"]["labels"][KIND_LABEL] == "unit"
    ]
    assert len(unit_leases) == len(UNITS)
    assert {lease["spec"]["holderIdentity"] for lease in unit_leases} == {"a", "b", "c"}

    # The API cost docs/scaling.md states: a settled round is one LIST, the member's PUT and one PUT per unit.
    lease_api.seen.clear()
    await coordinators["a"].step(held["a"].append)
    assert sorted(verb(seen) for seen in lease_api.seen) == sorted(
        ["list", "update"] + ["update"] * len(coordinators["a"].held)
    )

    lease_api.failing_tokens["token-c"] = 503
    for _ in range(4):
        await coordinators["c"].step(held["c"].append)
        clock.advance(TIMINGS.retry_period)
    assert coordinators["c"].held == {}
    assert held["c"][-1] == {}


def verb(seen: Any) -> str:
    """The RBAC verb of one request to the Lease API."""
    named = seen.path.rstrip("/").split("/")[-1] != "leases"
    if seen.method == "GET":
        return "get" if named else "list"
    return {"POST": "create", "PUT": "update", "DELETE": "delete"}[seen.method]


async def test_the_ha_role_grants_exactly_the_verbs_the_lease_code_uses(
    lease_api, make_leases, make_elector, clock
) -> None:
    """A whole life (elect, join, acquire, renew, release, leave, a dead member removed) uses every verb
    of the ha overlay's Role on leases, and no other."""
    rbac = Path(__file__).parents[3] / "deploy/kubernetes/overlays/ha/rbac.yaml"
    role = next(doc for doc in yaml.safe_load_all(rbac.read_text()) if doc["kind"] == "Role")
    elector = make_elector("pod-a")
    await elector.step()
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await b.heartbeat("pod-b", TTL)
    await a.heartbeat("pod-a", TTL)
    epoch = await a.acquire_unit(UNIT, "pod-a", TTL)
    clock.advance(TTL)
    await a.heartbeat("pod-a", TTL)  # pod-b never beat again: its member Lease is deleted
    assert await a.renew_unit(UNIT, "pod-a", epoch, TTL)
    await a.release_unit(UNIT, "pod-a")
    await a.leave("pod-a")
    await elector.release()

    used = {verb(seen) for seen in lease_api.seen}
    assert [rule["resources"] for rule in role["rules"]] == [["leases"]]
    assert used == set(role["rules"][0]["verbs"])


def good_lease(group: str = GROUP, key: str = UNIT) -> dict[str, Any]:
    """A well-formed unit Lease of ``group`` as the API would list it."""
    return {
        "metadata": {
            "name": lease_object_name(group, "unit", key),
            "resourceVersion": "7",
            "labels": {GROUP_LABEL: group_label(group), KIND_LABEL: "unit"},
            "annotations": {KEY_ANNOTATION: key},
        },
        "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 10, "leaseTransitions": 3},
    }


def broken(path: str, value: object) -> dict[str, Any]:
    """`good_lease` with the field at the dotted ``path`` replaced by ``value``."""
    lease = good_lease()
    *parents, last = path.split(".")
    target: Any = lease
    for part in parents:
        target = target[part]
    target[last] = value
    return lease


def test_a_well_formed_lease_parses_without_a_problem() -> None:
    """Every field of a listed unit Lease is read: holder, duration, transitions, version and key."""
    record = parse_lease(good_lease(), GROUP)
    assert record.problem == ""
    assert (record.kind, record.key, record.holder, record.duration, record.transitions, record.version) == (
        "unit",
        UNIT,
        "pod-a",
        10,
        3,
        "7",
    )


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        pytest.param(["not", "a", "lease"], "a list, not an object", id="not-an-object"),
        pytest.param(broken("metadata.resourceVersion", 7), "resourceVersion missing", id="version-not-text"),
        pytest.param(
            broken("metadata.labels", {GROUP_LABEL: "other"}), "not this group's", id="foreign-labels"
        ),
        pytest.param(broken("metadata.annotations", None), "annotation", id="no-key"),
        pytest.param(
            broken("metadata.annotations", {KEY_ANNOTATION: "seats:org/acme"}),
            "does not give this name",
            id="key-of-another-name",
        ),
        pytest.param(broken("spec", "held"), "spec is not an object", id="spec-not-object"),
        pytest.param(
            broken("spec.holderIdentity", 5), "holderIdentity is not a string", id="holder-not-text"
        ),
        pytest.param(broken("spec.leaseDurationSeconds", True), "leaseDurationSeconds", id="duration-bool"),
        pytest.param(broken("spec.leaseTransitions", -1), "leaseTransitions", id="transitions-negative"),
    ],
)
def test_malformed_leases_name_what_is_wrong(item: object, problem: str) -> None:
    """A malformed Lease becomes a record whose problem says what is wrong, never an exception."""
    record = parse_lease(item, GROUP)
    assert problem in record.problem


async def test_only_looking_writes_nothing(lease_api, make_leases) -> None:
    """A heartbeat without a member lists the live members and writes no Lease."""
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await b.heartbeat("pod-b", TTL)
    lease_api.seen.clear()

    assert await a.heartbeat("", TTL) == ["pod-b"]
    assert [s.method for s in lease_api.seen] == ["GET"]


async def test_leaving_without_a_listing_reads_the_lease_first(lease_api, make_leases) -> None:
    """A replica that leaves before its cache knows its member Lease reads it and deletes it; none is a no-op."""
    await make_leases("pod-a").heartbeat("pod-a", TTL)
    fresh = make_leases("pod-a")

    await fresh.leave("pod-a")
    assert [s.method for s in lease_api.seen[-2:]] == ["GET", "DELETE"]
    assert not lease_api.leases
    await fresh.leave("pod-a")
    assert lease_api.seen[-1].method == "GET"


@pytest.mark.parametrize(
    ("call", "method", "status", "reason"),
    [
        pytest.param("release", "GET", 500, "server_error", id="release-read-5xx"),
        pytest.param("leave", "GET", 403, "unauthorized", id="leave-read-rbac"),
        pytest.param("leave-cached", "DELETE", 500, "server_error", id="leave-delete-5xx"),
        pytest.param("acquire", "POST", 422, "rejected", id="acquire-invalid"),
    ],
)
async def test_unexpected_answers_are_lease_errors(
    lease_api, make_leases, call: str, method: str, status: int, reason: str
) -> None:
    """Answers other than success, 404 or a lost race surface as `LeaseError` with the status's reason."""
    a = make_leases("pod-a")
    if call == "leave-cached":
        await a.heartbeat("pod-a", TTL)
    lease_api.fail_next(method, status)

    calls = {
        "release": lambda: a.release_unit(UNIT, "pod-a"),
        "leave": lambda: a.leave("pod-a"),
        "leave-cached": lambda: a.leave("pod-a"),
        "acquire": lambda: a.acquire_unit(UNIT, "pod-a", TTL),
    }

    with pytest.raises(LeaseError) as failed:
        await calls[call]()
    assert failed.value.reason == reason


async def test_leaving_after_a_renewal_the_cache_missed_still_deletes(lease_api, make_leases, clock) -> None:
    """When the member Lease changed after the last read (a renewal cut off by shutdown that still landed),
    leaving reads it again and deletes it."""
    a = make_leases("pod-a")
    await a.heartbeat("pod-a", TTL)
    lease_api.spec(a.member_lease("pod-a"))["renewTime"] = "2026-11-25T10:30:00.000000Z"
    lease_api.lease(a.member_lease("pod-a"))["metadata"]["resourceVersion"] = "99"

    await a.leave("pod-a")

    assert [s.method for s in lease_api.seen[-3:]] == ["DELETE", "GET", "DELETE"]
    assert not lease_api.leases


async def test_releasing_a_unit_without_a_lease_is_a_no_op(lease_api, make_leases) -> None:
    """Releasing a unit whose Lease does not exist (never acquired, or deleted) writes nothing."""
    a = make_leases("pod-a")

    await a.release_unit(UNIT, "pod-a")

    assert [s.method for s in lease_api.seen] == ["GET"]


async def test_an_unreadable_write_answer_is_rejected(lease_api, make_leases) -> None:
    """A 2xx answer to a write that is not the Lease written is a `rejected` error, not a held unit."""
    a = make_leases("pod-a")
    lease_api.answer_next("POST", 201, {"kind": "Status"})

    with pytest.raises(LeaseError, match="unreadable Lease") as failed:
        await a.heartbeat("pod-a", TTL)
    assert failed.value.reason == "rejected"


async def test_a_dead_member_lease_that_cannot_be_deleted_is_reported_once(
    lease_api, make_leases, clock
) -> None:
    """Without `delete` (403) the dead member's Lease stays, the round goes on, and it is tried once per version."""
    a, b = make_leases("pod-a"), make_leases("pod-b")
    await b.heartbeat("pod-b", TTL)
    await a.heartbeat("pod-a", TTL)
    clock.advance(TTL)
    lease_api.fail_next("DELETE", 403)

    assert await a.heartbeat("pod-a", TTL) == ["pod-a"]
    assert await a.heartbeat("pod-a", TTL) == ["pod-a"]

    assert [s.method for s in lease_api.seen].count("DELETE") == 1
    assert (NAMESPACE, b.member_lease("pod-b")) in lease_api.leases


async def test_a_store_epoch_beyond_int32_is_a_clear_error_and_no_lease(
    lease_api, make_leases, fences
) -> None:
    """Epochs seeded by Redis unit leases (ms timestamps) cannot go into leaseTransitions: a clear error,
    and the Lease is not written with a term the API server would refuse."""
    await fences.raise_unit_epoch(UNIT, 1_796_444_123_457)
    a = make_leases("pod-a")
    await a.heartbeat("pod-a", TTL)

    with pytest.raises(LeaseError, match=r"leaseTransitions \(int32\)"):
        await a.acquire_unit(UNIT, "pod-a", TTL)
    assert a.unit_lease(UNIT) not in {item["metadata"]["name"] for item in lease_api.leases.values()}
