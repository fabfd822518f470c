"""The Redis lease elector against a real redis-server: one leader, expiry takeover, release, restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from tests.support.redis_server import RedisProcess

from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.leader.redis import RedisElector
from github_stats_exporter.metrics import LEADER_ELECTION_ERRORS
from github_stats_exporter.selfmetrics import SelfMetrics

pytestmark = pytest.mark.integration

TIMINGS = LeaseTimings(lease_duration=0.5, renew_deadline=0.3, retry_period=0.05)
LEASE = "leader"


@dataclass
class Cluster:
    """Electors on one Redis, each running in its own task; records every role change it sees."""

    port: int
    prefix: str
    electors: dict[str, RedisElector] = field(default_factory=dict)
    metrics: dict[str, SelfMetrics] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    leaders: set[str] = field(default_factory=set)
    overlaps: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    events: list[tuple[str, bool, float]] = field(default_factory=list)

    def start(self, name: str) -> RedisElector:
        self.metrics[name] = SelfMetrics()
        elector = RedisElector.standalone(
            "127.0.0.1",
            self.port,
            key_prefix=self.prefix,
            lease_name=LEASE,
            identity=name,
            timings=TIMINGS,
            metrics=self.metrics[name],
        )
        self.electors[name] = elector
        self.tasks[name] = asyncio.create_task(elector.run(self._on_change(name)), name=name)
        return elector

    def _on_change(self, name: str) -> Callable[[bool], None]:
        def on_change(leader: bool) -> None:
            if leader:
                if self.leaders:
                    self.overlaps.append((name, frozenset(self.leaders)))
                self.leaders.add(name)
            else:
                self.leaders.discard(name)
            self.events.append((name, leader, time.monotonic()))

        return on_change

    async def kill(self, name: str) -> None:
        """Cancel the elector's loop without releasing: its renewals simply stop."""
        task = self.tasks.pop(name)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def leader(self, within: float = 3.0, *, other_than: str = "") -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            current = [name for name in self.leaders if name != other_than]
            if current:
                return current[0]
            await asyncio.sleep(0.01)
        msg = f"no leader within {within}s (events: {self.events})"
        raise AssertionError(msg)

    async def close(self) -> None:
        for name in list(self.tasks):
            await self.kill(name)
        for elector in self.electors.values():
            await elector.close()


@pytest.fixture
async def cluster(redis_server: RedisProcess, key_prefix: str) -> AsyncIterator[Cluster]:
    group = Cluster(redis_server.port, key_prefix)
    try:
        yield group
    finally:
        await group.close()


@pytest.fixture
async def redis(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    client = Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def test_two_electors_elect_exactly_one_leader(cluster: Cluster, redis: Redis) -> None:
    """Two replicas on a fresh Redis: after a one-lease quiet period exactly one leads, and keeps leading."""
    started = time.monotonic()
    cluster.start("a")
    cluster.start("b")

    leader = await cluster.leader()
    waited = time.monotonic() - started
    await asyncio.sleep(0.2)  # several renewal periods

    assert waited >= TIMINGS.lease_duration * 0.9  # fresh Redis: no epoch yet, so the quiet period applies
    assert cluster.leaders == {leader}
    assert [n for n, e in cluster.electors.items() if e.is_leader] == [leader]
    assert cluster.overlaps == []
    assert await redis.get(f"{cluster.prefix}:leader:{LEASE}") == leader
    assert 0 < await redis.pttl(f"{cluster.prefix}:leader:{LEASE}") <= 500
    assert cluster.electors[leader].epoch == int(
        await redis.get(f"{cluster.prefix}:leader:{LEASE}:epoch") or 0
    )
    assert cluster.electors[leader].epoch >= 1


async def test_dead_leader_is_replaced_after_its_lease_expires(cluster: Cluster) -> None:
    """When the leader stops renewing (no release), the other replica leads once the lease has expired."""
    cluster.start("a")
    cluster.start("b")
    old = await cluster.leader()
    old_epoch = cluster.electors[old].epoch

    killed_at = time.monotonic()
    await cluster.kill(old)
    assert not cluster.electors[old].is_leader  # a loop that no longer renews stops leading at once
    new = await cluster.leader(other_than=old)
    waited = time.monotonic() - killed_at

    assert new != old
    assert TIMINGS.lease_duration - TIMINGS.renew_period - 0.02 <= waited < TIMINGS.lease_duration + 0.5
    assert cluster.electors[new].epoch == old_epoch + 1
    assert cluster.overlaps == []


async def test_release_hands_over_without_waiting_for_expiry(cluster: Cluster, redis: Redis) -> None:
    """A voluntary release deletes the lease, so a follower takes over on its next attempt."""
    cluster.start("a")
    cluster.start("b")
    old = await cluster.leader()
    await cluster.kill(old)

    released_at = time.monotonic()
    await cluster.electors[old].release()
    new = await cluster.leader(other_than=old)

    assert time.monotonic() - released_at < TIMINGS.lease_duration / 2
    assert await redis.get(f"{cluster.prefix}:leader:{LEASE}") == new
    assert cluster.overlaps == []


async def test_leases_are_compare_and_set(cluster: Cluster, redis: Redis) -> None:
    """A leader whose key was taken over stops at its next renewal; a non-holder's release deletes nothing."""
    cluster.start("a")
    leader = await cluster.leader()
    key = f"{cluster.prefix}:leader:{LEASE}"

    await redis.set(key, "intruder", px=5000)
    await asyncio.sleep(TIMINGS.renew_period * 3)
    assert not cluster.electors[leader].is_leader
    await cluster.electors[leader].release()

    assert await redis.get(key) == "intruder"


@pytest.mark.parametrize("redis_server", ["persistent", "ephemeral"], indirect=True)
@pytest.mark.parametrize("outage", [pytest.param(0.05, id="blip"), pytest.param(0.6, id="long")])
async def test_redis_restart_never_yields_two_leaders(
    cluster: Cluster, redis_server: RedisProcess, outage: float
) -> None:
    """Redis stops and restarts (with or without its data): at no moment do two replicas lead, and one
    replica leads again afterwards."""
    cluster.start("a")
    cluster.start("b")
    cluster.start("c")
    await cluster.leader()

    await asyncio.to_thread(redis_server.stop)
    await asyncio.sleep(outage)
    if outage > TIMINGS.renew_deadline:
        assert cluster.leaders == set()  # nobody can renew: the leader stepped down on its deadline
    await asyncio.to_thread(redis_server.start)
    # Without its data Redis forgets the lease: the old leader may still be listed until its next renewal
    # finds the key gone, then everyone waits out the quiet period. Settle first, then look.
    await asyncio.sleep(TIMINGS.lease_duration + 0.3)
    await cluster.leader(within=5.0)
    await asyncio.sleep(0.1)

    assert cluster.overlaps == []
    assert len(cluster.leaders) == 1
    assert sum(e.is_leader for e in cluster.electors.values()) == 1
    errors = sum(m.value(LEADER_ELECTION_ERRORS, {"reason": "redis"}) for m in cluster.metrics.values())
    assert errors >= 1
