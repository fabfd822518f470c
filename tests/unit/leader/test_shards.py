"""The shard coordinator: membership, rendezvous rebalancing and fenced unit leases, on the memory store."""

from __future__ import annotations

from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.leader.shards import Held, ShardCoordinator
from github_stats_exporter.leader.units import assign, plan_units
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
