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
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from redis.asyncio import Redis
from tests.support.lease_api import NAMESPACE, FakeLeaseApi
from tests.support.redis_server import RedisProcess, free_port

from github_stats_exporter.leader.kubernetes_units import KIND_LABEL
from github_stats_exporter.leader.lease_names import lease_object_name
from github_stats_exporter.leader.units import owner, plan_units
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.scrape.shard import RepoShard
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.store.base import Fence, FencedOut
from github_stats_exporter.store.redis import RedisSnapshotStore

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ORGS = {"acme": 21, "umbrella": 22}
SHARDS = 3
PLAN = plan_units(dict.fromkeys(ORGS, SHARDS))
UNITS = {unit.name for unit in PLAN}
GROUP = "gse-it"
LEASE_SECONDS = 2.0
CYCLE_SECONDS = 2.0


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Simulator, Path]]:
    private, public = generate_key_pair()
    key = tmp_path / "app.pem"
    key.write_text(private)
    spec = WorldSpec(
        seed=37,
        orgs=tuple(OrgSpec(org, repos=12, users=6, app_id=11, installation_id=i) for org, i in ORGS.items()),
        start=time.time(),
    )
    async with Simulator(spec) as simulator:
        simulator.add_app(11, public)
        yield simulator, key


@pytest.fixture
async def lease_api() -> AsyncIterator[FakeLeaseApi]:
    api = FakeLeaseApi()
    await api.start()
    try:
        yield api
    finally:
        await api.close()


def write_config(
    path: Path, name: str, port: int, redis: RedisProcess, prefix: str, sim: Simulator, key: Path, api: str
) -> Path:
    org = {
        "app_id": 11,
        "private_key_path": str(key),
        "scrape_interval": f"{CYCLE_SECONDS}s",
        "shards": SHARDS,
    }
    config: dict[str, Any] = {
        "server": {"listen_addr": f"127.0.0.1:{port}", "log_level": "warning"},
        "github": {
            "api_base_url": sim.api_url,
            "orgs": [{"org": o, "installation_id": i, **org} for o, i in ORGS.items()],
        },
        "health": {"github_probe_interval": "1h"},
        "leader_election": {
            "enabled": True,
            "backend": "kubernetes",
            "namespace": NAMESPACE,
            "lease_name": GROUP,
            "kubernetes_api_url": api,
            "mode": "sharded",
            "identity": name,
            "lease_duration": f"{LEASE_SECONDS}s",
            "renew_deadline": "1500ms",
            "retry_period": "200ms",
        },
        "store": {
            "backend": "redis",
            "redis_addr": f"127.0.0.1:{redis.port}",
            "key_prefix": prefix,
            "metric_refresh_interval": "200ms",
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


class Cluster:
    """The unit Leases in the fake API, the epochs in Redis and the replicas' own view of what they hold."""

    def __init__(
        self, api: FakeLeaseApi, redis: Redis, prefix: str, session: aiohttp.ClientSession, sim: Simulator
    ) -> None:
        self.api = api
        self.redis = redis
        self.prefix = prefix
        self.session = session
        self.sim = sim
        self.ports: dict[str, int] = {}
        self.samples = 0

    def leases(self) -> dict[str, tuple[str, int]]:
        """unit -> (holderIdentity, leaseTransitions) of its Lease; units without a Lease are absent."""
        out: dict[str, tuple[str, int]] = {}
        for unit in UNITS:
            lease = self.api.leases.get((NAMESPACE, lease_object_name(GROUP, "unit", unit)))
            if lease is not None:
                out[unit] = (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"])
        return out

    async def epochs(self) -> dict[str, int]:
        names = sorted(UNITS)
        raw = await self.redis.mget([f"{self.prefix}:unit:{unit}:epoch" for unit in names])
        return {unit: int(value or 0) for unit, value in zip(names, raw, strict=True)}

    async def claims(self) -> dict[str, dict[str, int]]:
        """replica -> the units (with epochs) its `/healthz` says it holds."""
        out: dict[str, dict[str, int]] = {}
        for name, port in self.ports.items():
            try:
                async with self.session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    doc = await response.json()
            except (aiohttp.ClientError, ValueError):
                continue
            detail = doc["details"]["shards"]["detail"]
            listed = detail.rsplit(" holds ", 1)[-1].partition(": ")[2]
            out[name] = {u: int(e) for u, _, e in (p.rpartition("@") for p in listed.split(", ") if p)}
        return out

    async def check(self) -> dict[str, tuple[str, int]]:
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

    async def settle(self, members: set[str], within: float) -> dict[str, tuple[str, int]]:
        """Wait until the unit Leases name the rendezvous owners over ``members``, checking every sample."""
        deadline = time.monotonic() + within
        leases: dict[str, tuple[str, int]] = {}
        while time.monotonic() < deadline:
            leases = await self.check()
            expected = {unit.name: owner(unit, sorted(members)) for unit in PLAN}
            if {unit: holder for unit, (holder, _) in leases.items()} == expected:
                epochs = await self.epochs()
                if all(epochs[unit] == leases[unit][1] for unit in UNITS):
                    return leases
            await asyncio.sleep(0.1)
        msg = f"units did not settle on {sorted(members)}: {leases}"
        raise AssertionError(msg)

    def members(self) -> set[str]:
        """The identities named by member Leases in the fake API."""
        return {
            lease["spec"]["holderIdentity"]
            for lease in self.api.leases.values()
            if lease["metadata"].get("labels", {}).get(KIND_LABEL) == "member"
        }

    async def collected_since(self, since: float, units: set[str]) -> bool:
        """True when every repository of ``units`` has an activity snapshot produced after ``since``."""
        wanted: set[tuple[str, str]] = set()
        for unit in units:
            org, _, shard = unit.removeprefix("repos:org/").partition("#")
            index = int(shard.split("/")[0])
            for info in self.sim.world.repos(org):
                if info.kind not in ("archived", "disabled") and RepoShard(index, SHARDS).holds(
                    info.id, info.name
                ):
                    wanted.add((org, info.name))
        store = RedisSnapshotStore(self.redis, key_prefix=self.prefix)
        snaps = await store.get_many(SnapshotKey("activity", parts) for parts in wanted)
        return len(snaps) == len(wanted) > 0 and all(s.produced_at >= since for s in snaps.values())


async def test_replicas_share_units_on_kubernetes_leases_and_a_killed_replica_is_replaced(
    redis_server: RedisProcess,
    key_prefix: str,
    tmp_path: Path,
    exporters,
    world: tuple[Simulator, Path],
    lease_api: FakeLeaseApi,
) -> None:
    """Join, leave and kill -9 on Leases: never two current holders, fences follow the Leases, takeover in time."""
    sim, key = world
    redis = Redis(host="127.0.0.1", port=redis_server.port)
    procs: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        cluster = Cluster(lease_api, redis, key_prefix, session, sim)

        async def start(name: str) -> None:
            port = free_port()
            config = write_config(
                tmp_path / f"{name}.yaml", name, port, redis_server, key_prefix, sim, key, lease_api.base_url
            )
            procs[name] = await exporters.start(config, tmp_path / f"{name}.log", {})
            cluster.ports[name] = port

        try:
            await start("r1")
            await start("r2")
            two = await cluster.settle({"r1", "r2"}, 20)
            assert cluster.members() == {"r1", "r2"}

            await start("r3")  # join: only units that r3 now owns move, each to r3 in a new term
            three = await cluster.settle({"r1", "r2", "r3"}, 20)
            moved = {u for u in UNITS if three[u][0] != two[u][0]}
            assert moved
            assert all(three[u][0] == "r3" for u in moved)
            assert all(three[u][1] > two[u][1] for u in moved)
            assert all(three[u] == two[u] for u in UNITS - moved)

            procs["r1"].send_signal(signal.SIGTERM)  # leave: units released, member Lease deleted
            assert await asyncio.wait_for(procs["r1"].wait(), 20) == 0
            del cluster.ports["r1"]
            assert "r1" not in cluster.members()
            after_leave = await cluster.settle({"r2", "r3"}, 5)
            assert all(after_leave[u] == three[u] for u in UNITS if three[u][0] != "r1")

            victim_units = {u for u, (h, _) in after_leave.items() if h == "r2"}
            assert victim_units
            procs["r2"].kill()  # kill -9: nothing is released, the Leases must expire as r3 observes them
            killed_at = time.time()
            await procs["r2"].wait()
            del cluster.ports["r2"]
            await cluster.settle({"r3"}, LEASE_SECONDS + 5)
            taken = time.time() - killed_at
            deadline = killed_at + LEASE_SECONDS + CYCLE_SECONDS + 3
            while time.time() < deadline:
                await cluster.check()
                if await cluster.collected_since(killed_at, victim_units):
                    break
                await asyncio.sleep(0.1)
            resumed = time.time() - killed_at
            assert await cluster.collected_since(killed_at, victim_units), (taken, resumed)
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
            store = RedisSnapshotStore(redis, key_prefix=key_prefix)
            with pytest.raises(FencedOut):
                await store.put_fenced(
                    Snapshot(SnapshotKey("activity", ("acme", "stale")), (), 1.0),
                    Fence(unit, after_leave[unit][1]),
                )
        finally:
            codes = await exporters.stop()
            await redis.aclose()
    assert codes[0] == 0
    assert codes[2] == 0
    assert cluster.samples > 20
    assert taken <= LEASE_SECONDS + 5
    assert resumed <= LEASE_SECONDS + CYCLE_SECONDS + 3
    assert dropped <= 1.5 + 0.2 + 1  # renew_deadline + retry_period + the healthz refresh
