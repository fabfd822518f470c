"""The shard coordinator: membership, rendezvous rebalancing and fenced unit leases, on the memory store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence

import pytest

from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.leader.shards import Held, ShardCoordinator
from github_stats_exporter.leader.units import assign, plan_units
from github_stats_exporter.store.base import StoreUnavailable, UnitRenewal
from github_stats_exporter.store.memory import MemorySnapshotStore

TIMINGS = LeaseTimings(lease_duration=10.0, renew_deadline=6.0, retry_period=2.0)
UNITS = plan_units({"acme": 6, "umbrella": 3}, copilot=["org/acme"], seats=["org/acme"])


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Replica:
    def __init__(self, name: str, store: MemorySnapshotStore, clock: Clock) -> None:
        self.coordinator = ShardCoordinator(store, identity=name, units=UNITS, timings=TIMINGS, clock=clock)
        self.changes: list[Held] = []

    async def step(self) -> None:
        await self.coordinator.step(self.changes.append)

    @property
    def held(self) -> set[str]:
        return set(self.coordinator.held)


async def rounds(replicas: list[Replica], count: int, clock: Clock) -> None:
    for _ in range(count):
        for replica in replicas:
            await replica.step()
        clock.now += TIMINGS.retry_period


async def test_replicas_settle_on_the_rendezvous_assignment_without_overlap() -> None:
    """After two rounds every unit is held by exactly the member rendezvous hashing names."""
    clock = Clock()
    store = MemorySnapshotStore(clock=clock)
    replicas = [Replica(name, store, clock) for name in ("a", "b", "c")]
    await rounds(replicas, 2, clock)
    expected = assign(UNITS, ["a", "b", "c"])
    for replica in replicas:
        assert replica.held == {u.name for u in expected[replica.coordinator.identity]}
        assert replica.coordinator.members == ("a", "b", "c")


async def test_a_join_hands_units_over_without_two_holders() -> None:
    """When a replica joins, the units it should own move to it and never have two holders at once."""
    clock = Clock()
    store = MemorySnapshotStore(clock=clock)
    replicas = [Replica(name, store, clock) for name in ("a", "b")]
    await rounds(replicas, 2, clock)
    replicas.append(Replica("c", store, clock))
    for _ in range(3):
        for replica in replicas:
            await replica.step()
            held = [r.held for r in replicas]
            assert sum(len(h) for h in held) == len(set().union(*held))
        clock.now += TIMINGS.retry_period
    assert replicas[2].held == {u.name for u in assign(UNITS, ["a", "b", "c"])["c"]}


async def test_a_dead_replica_s_units_are_taken_over_after_its_leases_expire() -> None:
    """A replica that stops beating loses its units to the others once lease_duration has passed."""
    clock = Clock()
    store = MemorySnapshotStore(clock=clock)
    a, b, c = (Replica(name, store, clock) for name in ("a", "b", "c"))
    await rounds([a, b, c], 2, clock)
    lost = c.held
    epochs = await store.unit_epochs(lost)
    await rounds([a, b], 7, clock)  # 14 s > lease_duration
    assert a.held | b.held == {u.name for u in UNITS}
    assert all(epoch > epochs[name] for name, epoch in (await store.unit_epochs(lost)).items())


async def test_a_replica_that_cannot_reach_the_store_drops_its_units_within_the_renew_deadline() -> None:
    """Failed rounds keep the units until renew_deadline has passed, then every unit is dropped."""
    clock = Clock()
    store = MemorySnapshotStore(clock=clock)
    replica = Replica("a", store, clock)
    await replica.step()
    assert replica.held
    await store.close()  # every call now raises StoreUnavailable
    clock.now += TIMINGS.renew_deadline - 1
    await replica.step()
    assert replica.held
    clock.now += 2
    await replica.step()
    assert replica.held == set()
    assert replica.changes[-1] == {}


class SwallowingStore(MemorySnapshotStore):
    """A store whose heartbeat, once armed, waits and turns its cancellation into a store error
    (what redis-py did with a shutdown that landed mid-command)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.armed = False
        self.waiting = asyncio.Event()

    async def heartbeat(self, member: str, ttl_seconds: float) -> list[str]:
        if self.armed:
            self.waiting.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                raise StoreUnavailable("connection closed by the cancellation") from None
        return await super().heartbeat(member, ttl_seconds)


async def test_run_ends_on_a_cancellation_the_store_swallowed_and_drops_its_units() -> None:
    """SIGTERM while a round waits on the store: run() still ends (the replica exits) and stops collecting."""
    clock = Clock()
    store = SwallowingStore(clock)
    changes: list[Held] = []
    coordinator = ShardCoordinator(
        store, identity="a", units=UNITS, timings=TIMINGS, clock=clock, sleep=lambda _: asyncio.sleep(0)
    )
    holding = asyncio.Event()

    def on_change(held: Held) -> None:
        changes.append(held)
        if held:
            holding.set()

    task = asyncio.create_task(coordinator.run(on_change))
    await asyncio.wait_for(holding.wait(), 1.0)
    store.armed = True
    await asyncio.wait_for(store.waiting.wait(), 1.0)
    task.cancel()
    # Not wait_for: a loop that ignores the cancel would swallow wait_for's own cancel too, and hang.
    await asyncio.wait({task}, timeout=1.0)
    store.armed = False
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
        pytest.fail("run() went on after its cancellation was swallowed")
    assert task.cancelled()
    assert changes[-1] == {}


# The configuration measured in docs/benchmarks.md ("Sharded collection"): 4 s leases, 2.7 s deadline.
BUSY_TIMINGS = LeaseTimings(lease_duration=4.0, renew_deadline=2.7, retry_period=0.5)
BUSY_SLICE = 0.05
"""Seconds the busy collectors hold the event loop each time the coordinator gives it up."""


class RoundTrips:
    """The memory store's unit leases, where every call is one round trip: the event loop turns over once
    (the busy collectors run a slice on the fake clock) before the store answers; calls are counted."""

    def __init__(self, store: MemorySnapshotStore) -> None:
        self.store = store
        self.calls: list[str] = []

    async def _trip(self, name: str) -> None:
        self.calls.append(name)
        await asyncio.sleep(0)

    async def heartbeat(self, member: str, ttl_seconds: float) -> list[str]:
        await self._trip("heartbeat")
        return await self.store.heartbeat(member, ttl_seconds)

    async def leave(self, member: str) -> None:
        await self._trip("leave")
        await self.store.leave(member)

    async def acquire_unit(self, unit: str, holder: str, ttl_seconds: float) -> int:
        await self._trip("acquire_unit")
        return await self.store.acquire_unit(unit, holder, ttl_seconds)

    async def renew_unit(self, unit: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        await self._trip("renew_unit")
        return await self.store.renew_unit(unit, holder, epoch, ttl_seconds)

    async def release_unit(self, unit: str, holder: str) -> None:
        await self._trip("release_unit")
        await self.store.release_unit(unit, holder)

    async def acquire_units(self, units: Sequence[str], holder: str, ttl_seconds: float) -> dict[str, int]:
        await self._trip("acquire_units")
        return await self.store.acquire_units(units, holder, ttl_seconds)

    async def renew_units(
        self, terms: Mapping[str, int], holder: str, ttl_seconds: float
    ) -> dict[str, UnitRenewal]:
        await self._trip("renew_units")
        return await self.store.renew_units(terms, holder, ttl_seconds)

    async def release_units(self, units: Iterable[str], holder: str) -> None:
        await self._trip("release_units")
        await self.store.release_units(units, holder)

    async def unit_holders(self, units: Iterable[str]) -> dict[str, tuple[str, int]]:
        await self._trip("unit_holders")
        return await self.store.unit_holders(units)


async def busy_collectors(clock: Clock) -> None:
    """Collectors that keep the loop busy: each turn they get costs `BUSY_SLICE` of (fake) time."""
    while True:
        clock.now += BUSY_SLICE
        await asyncio.sleep(0)


@pytest.mark.parametrize("orgs", [pytest.param(1, id="3-units"), pytest.param(20, id="60-units")])
async def test_a_replica_keeps_every_unit_on_a_busy_loop_at_a_constant_cost_per_round(orgs: int) -> None:
    """With 60 units (20 orgs x 3 shards) a settled round costs the same two store round trips as with 3,
    so collectors that hold the loop 50 ms per turn never push it past renew_deadline: nothing is dropped."""
    clock = Clock()
    units = plan_units({f"org{i}": 3 for i in range(orgs)})
    leases = RoundTrips(MemorySnapshotStore(clock=clock))
    changes: list[Held] = []
    coordinator = ShardCoordinator(leases, identity="a", units=units, timings=BUSY_TIMINGS, clock=clock)
    await coordinator.step(changes.append)  # settles on an idle loop, before any collector runs
    assert len(coordinator.held) == len(units)

    busy = asyncio.create_task(busy_collectors(clock))
    try:
        for _ in range(10):
            leases.calls.clear()
            started = clock.now
            await coordinator.step(changes.append)
            assert len(coordinator.held) == len(units)
            assert clock.now - started <= 2 * BUSY_SLICE
            assert leases.calls == ["heartbeat", "renew_units"]
            clock.now += BUSY_TIMINGS.retry_period
    finally:
        busy.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await busy
    assert len(changes) == 1  # the first acquisition only: no unit was ever dropped
