"""Sharded collection on Kubernetes Leases: real exporter processes, the fake Lease API, a real Redis.

Three `serve` processes elect their leader and lease their membership and work units on the fake Lease
API (tests/support/lease_api.py, served by this test on 127.0.0.1 and reached through
`leader_election.kubernetes_api_url`); the fencing epochs live in Redis. At every sample the test reads
the epochs from Redis, then the unit Leases, then every replica's `/healthz`, and checks that no unit is
claimed by two replicas in its current term and that no epoch in Redis is ahead of its Lease (the
Lease is won before the fence is raised). Join, leave (SIGTERM) and kill -9 move units as rendezvous
hashing says; a killed replica's units are collected again within lease duration plus one cycle; with
the API server down a replica drops every unit within renew_deadline and takes them back after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.lease_api import NAMESPACE, FakeLeaseApi
from tests.support.redis_server import RedisProcess
from tests.support.sharded_cluster import (
    CYCLE_SECONDS,
    LEASE_SECONDS,
    UNITS,
    Holders,
    ShardedCluster,
    moves,
    sharded_world,
)

from github_stats_exporter.leader.kubernetes_units import KIND_LABEL
from github_stats_exporter.leader.lease_names import lease_object_name
from github_stats_exporter.simulator.server import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

GROUP = "gse-it"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Simulator, Path]]:
    async with sharded_world(tmp_path, seed=37) as world:
        yield world


@pytest.fixture
async def lease_api() -> AsyncIterator[FakeLeaseApi]:
    async with FakeLeaseApi() as api:
        yield api


def election(api: FakeLeaseApi) -> dict[str, str]:
    """The leader_election fields of the Kubernetes variant: Leases in `GROUP` on the fake API server."""
    return {
        "backend": "kubernetes",
        "namespace": NAMESPACE,
        "lease_name": GROUP,
        "kubernetes_api_url": api.base_url,
    }


class Cluster(ShardedCluster):
    """The unit Leases in the fake API, the epochs in Redis and the replicas' own view of what they hold."""

    def __init__(self, api: FakeLeaseApi, **harness: Any) -> None:
        super().__init__(**harness)
        self.api = api
        self.samples = 0

    def leases(self) -> Holders:
        """unit -> (holderIdentity, leaseTransitions) of its Lease; units without a Lease are absent."""
        out: Holders = {}
        for unit in UNITS:
            lease = self.api.leases.get((NAMESPACE, lease_object_name(GROUP, "unit", unit)))
            if lease is not None:
                out[unit] = (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"])
        return out

    async def epochs(self) -> dict[str, int]:
        names = sorted(UNITS)
        raw = await self.redis.mget([f"{self.prefix}:unit:{unit}:epoch" for unit in names])
        return {unit: int(value or 0) for unit, value in zip(names, raw, strict=True)}

    async def sample(self) -> Holders:
        """One sample: no unit with two current holders, no fence ahead of its Lease; returns the Leases."""
        epochs = await self.epochs()  # first: every raise follows the Lease write of its term
        leases = self.leases()
        claims = await self.claims()
        self.samples += 1
        for unit in UNITS:
            assert epochs[unit] <= leases.get(unit, ("", 0))[1], (unit, epochs[unit], leases.get(unit))
            current = [name for name, held in claims.items() if held.get(unit) == epochs[unit]]
            assert len(current) <= 1, (unit, claims)
        return leases

    async def settled(self, holders: Holders) -> bool:
        """The rendezvous owners hold the Leases and every fence in Redis has caught up with its Lease."""
        epochs = await self.epochs()
        return all(epochs[unit] == holders[unit][1] for unit in UNITS)

    def members(self) -> set[str]:
        """The identities named by member Leases in the fake API."""
        return {
            lease["spec"]["holderIdentity"]
            for lease in self.api.leases.values()
            if lease["metadata"].get("labels", {}).get(KIND_LABEL) == "member"
        }


async def test_replicas_share_units_on_kubernetes_leases_and_a_killed_replica_is_replaced(
    redis_server: RedisProcess,
    key_prefix: str,
    tmp_path: Path,
    exporters,
    world: tuple[Simulator, Path],
    lease_api: FakeLeaseApi,
) -> None:
    """Join, leave and kill -9 on Leases: never two current holders, fences follow the Leases, takeover in time."""
    async with Cluster(
        lease_api,
        exporters=exporters,
        workdir=tmp_path,
        redis_port=redis_server.port,
        prefix=key_prefix,
        world=world,
        election=election(lease_api),
    ) as cluster:
        await cluster.start("r1")
        await cluster.start("r2")
        two = await cluster.settle({"r1", "r2"}, 20)
        assert cluster.members() == {"r1", "r2"}

        await cluster.start(
            "r3"
        )  # join: only the units the assignment moves (r3's share, a few more) change holder in a new term
        three = await cluster.settle({"r1", "r2", "r3"}, 20)
        moved = {u for u in UNITS if three[u][0] != two[u][0]}
        assert moved == moves({"r1", "r2"}, {"r1", "r2", "r3"})
        assert {u for u in UNITS if three[u][0] == "r3"} <= moved
        assert all(three[u][1] > two[u][1] for u in moved)
        assert all(three[u] == two[u] for u in UNITS - moved)

        assert await cluster.leave("r1") == 0  # leave: units released, member Lease deleted
        assert "r1" not in cluster.members()
        after_leave = await cluster.settle({"r2", "r3"}, 5)
        assert all(after_leave[u] == three[u] for u in UNITS if three[u][0] != "r1")

        victim_units = {u for u, (h, _) in after_leave.items() if h == "r2"}
        assert victim_units
        # kill -9: nothing is released, the Leases must expire as r3 observes them
        takeover = await cluster.kill("r2", victim_units, {"r3"})
        assert takeover.collected, takeover
        assert "r2" not in cluster.members()  # r3 deleted the dead replica's member Lease

        # The API server gone for everyone: the survivor drops every unit within renew_deadline (it
        # cannot renew), and takes them again in new terms once the API server answers.
        before_outage = await cluster.settle({"r3"}, 5)
        lease_api.outage = 503
        outage_at = time.monotonic()
        while time.monotonic() < outage_at + 5:
            if not (await cluster.claims()).get("r3"):
                break
            await asyncio.sleep(0.05)
        dropped = time.monotonic() - outage_at
        assert (await cluster.claims())["r3"] == {}
        lease_api.outage = 0
        back_at = time.monotonic()
        while time.monotonic() < back_at + 10:
            if set((await cluster.claims()).get("r3", {})) == UNITS:
                break
            await asyncio.sleep(0.05)
        after_outage = await cluster.settle({"r3"}, 5)
        assert (await cluster.claims())["r3"] == {u: epoch for u, (_, epoch) in after_outage.items()}
        assert all(after_outage[u][1] > before_outage[u][1] for u in UNITS)

        # The killed replica's last term is over: a write fenced with it is refused by the store.
        unit = sorted(victim_units)[0]
        await cluster.assert_fenced_out(unit, after_leave[unit][1])
    assert cluster.exit_codes[0] == 0
    assert cluster.exit_codes[2] == 0
    assert cluster.samples > 20
    assert takeover.taken <= LEASE_SECONDS + 5
    assert takeover.resumed <= LEASE_SECONDS + CYCLE_SECONDS + 3
    assert dropped <= 1.5 + 0.2 + 1  # renew_deadline + retry_period + the healthz refresh
