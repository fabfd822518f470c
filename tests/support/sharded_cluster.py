"""A harness for sharded-collection tests: N real `serve` processes on a real Redis and a simulated GitHub.

`sharded_world` serves two simulated orgs (the App key in the test's tmp dir); `write_config` writes one
replica's config, sharding both orgs in `SHARDS` shards, with the variant's leader-election fields (the
Redis lease backend, or Kubernetes Leases on a fake API server) passed in as ``election``. `ShardedCluster`
starts and tracks the replicas (and, as an async context manager, stops them and records their exit codes), reads what each says it holds on `/healthz`, waits for the final
rendezvous assignment and for a takeover's snapshots, and checks that a write fenced with an ended term
is refused. What a "holder" is and what one sample checks belong to the test: it subclasses
`ShardedCluster` and implements `sample` (and `settled` when settling needs more than the holders).
It must not know about Lease objects or Redis lease keys, and it never weakens a test's own checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

import aiohttp
import pytest
import yaml
from redis.asyncio import Redis
from tests.support.redis_server import free_port

from github_stats_exporter.leader.units import assign, plan_units
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.scrape.shard import RepoShard
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.store.base import Fence, FencedOut
from github_stats_exporter.store.redis import RedisSnapshotStore

ORGS = {"acme": 21, "umbrella": 22}
SHARDS = 3
PLAN = plan_units(dict.fromkeys(ORGS, SHARDS))
UNITS = frozenset(unit.name for unit in PLAN)
LEASE_SECONDS = 2.0
CYCLE_SECONDS = 2.0

Holders = dict[str, tuple[str, int]]
"""unit -> (holder, term epoch), as the variant reads it from its lease backend."""


class Exporters(Protocol):
    """The `exporters` fixture of tests/integration/redis/conftest.py: starts `serve` processes."""

    async def start(self, config: Path, log: Path, env: Mapping[str, str]) -> Any: ...

    async def stop(self) -> list[int | None]: ...


@asynccontextmanager
async def sharded_world(tmp_path: Path, seed: int) -> AsyncIterator[tuple[Simulator, Path]]:
    """A simulator serving `ORGS` (12 repositories, 6 users each) and the path of the App's private key."""
    private, public = generate_key_pair()
    key = tmp_path / "app.pem"
    key.write_text(private)
    spec = WorldSpec(
        seed=seed,
        orgs=tuple(OrgSpec(org, repos=12, users=6, app_id=11, installation_id=i) for org, i in ORGS.items()),
        start=time.time(),
    )
    async with Simulator(spec) as simulator:
        simulator.add_app(11, public)
        yield simulator, key


def write_config(
    path: Path,
    name: str,
    port: int,
    redis_port: int,
    prefix: str,
    sim: Simulator,
    key: Path,
    election: Mapping[str, Any],
) -> Path:
    """One replica's config: sharded mode with identity ``name``, the lease timings, ``election`` on top."""
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
            **election,
            "mode": "sharded",
            "identity": name,
            "lease_duration": f"{LEASE_SECONDS}s",
            "renew_deadline": "1500ms",
            "retry_period": "200ms",
        },
        "store": {
            "backend": "redis",
            "redis_addr": f"127.0.0.1:{redis_port}",
            "key_prefix": prefix,
            "metric_refresh_interval": "200ms",
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def rendezvous(members: set[str]) -> dict[str, str | None]:
    """unit -> the member the (bounded-load) rendezvous assignment gives it to; None with no member."""
    owners: dict[str, str | None] = dict.fromkeys((unit.name for unit in PLAN), None)
    for member, units in assign(PLAN, sorted(members)).items():
        owners.update((unit.name, member) for unit in units)
    return owners


def moves(before: set[str], after: set[str]) -> set[str]:
    """The units whose assigned member differs between two member sets: what a join or leave must move."""
    old, new = rendezvous(before), rendezvous(after)
    return {unit for unit in old if old[unit] != new[unit]}


@dataclass(frozen=True, slots=True)
class Takeover:
    """How a kill -9 went: seconds until the survivors held its units, until they were collected again."""

    taken: float
    resumed: float
    collected: bool


class ShardedCluster(ABC):
    """The replicas of one test, what each says it holds, and waits on the cluster's state."""

    def __init__(
        self,
        *,
        exporters: Exporters,
        workdir: Path,
        redis_port: int,
        prefix: str,
        world: tuple[Simulator, Path],
        election: Mapping[str, Any],
    ) -> None:
        self.exporters = exporters
        self.workdir = workdir
        self.redis = Redis(host="127.0.0.1", port=redis_port)
        self.redis_port = redis_port
        self.prefix = prefix
        self.session = aiohttp.ClientSession()
        self.sim, self.key = world
        self.election = dict(election)
        self.ports: dict[str, int] = {}
        self.procs: dict[str, Any] = {}
        self.exit_codes: list[int | None] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop every replica still running with SIGTERM (exit codes in `exit_codes`), then the clients."""
        try:
            self.exit_codes = await self.exporters.stop()
        finally:
            await self.session.close()
            await self.redis.aclose()

    @abstractmethod
    async def sample(self) -> Holders:
        """One sample of the cluster, asserting the variant's safety checks; returns the holders."""

    async def settled(self, holders: Holders) -> bool:
        """Whether ``holders`` (already the rendezvous assignment) counts as settled."""
        return True

    async def start(self, name: str) -> None:
        """Start replica ``name`` on a free port; its config and log go to the work dir."""
        port = free_port()
        config = write_config(
            self.workdir / f"{name}.yaml",
            name,
            port,
            self.redis_port,
            self.prefix,
            self.sim,
            self.key,
            self.election,
        )
        # A replica that hangs at SIGTERM is aborted by `gone`; faulthandler then writes its stacks to the log.
        log = self.workdir / f"{name}.log"
        self.procs[name] = await self.exporters.start(config, log, {"PYTHONFAULTHANDLER": "1"})
        self.ports[name] = port

    async def gone(self, name: str) -> int:
        """Wait (up to 20 s) for replica ``name`` to exit and stop reading it; its exit code.

        A replica still running then is aborted (its Python stacks go to its log) and the test fails
        with the end of that log: a hang at shutdown is rare, and its cause is in what it logged last.
        """
        proc = self.procs[name]
        try:
            code = int(await asyncio.wait_for(proc.wait(), 20))
        except TimeoutError:
            proc.send_signal(signal.SIGABRT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
            lines = (self.workdir / f"{name}.log").read_text(errors="replace").splitlines()
            tail = "\n".join(lines[-80:])
            pytest.fail(f"replica {name} did not exit within 20 s; the end of its log:\n{tail}")
        del self.ports[name]
        return code

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

    async def settle(self, members: set[str], within: float) -> Holders:
        """Wait until the units are held as rendezvous hashing over ``members`` assigns them, sampling meanwhile.

        Settled means the final rendezvous assignment, not merely "every unit is held by a member": a
        unit may still be on its way from one member to another.
        """
        deadline = time.monotonic() + within
        holders: Holders = {}
        expected = rendezvous(members)
        while time.monotonic() < deadline:
            holders = await self.sample()
            if {unit: holder for unit, (holder, _) in holders.items()} == expected and await self.settled(
                holders
            ):
                return holders
            await asyncio.sleep(0.1)
        msg = f"units did not settle on {sorted(members)}: {holders}"
        raise AssertionError(msg)

    async def collected_since(self, since: float, units: set[str]) -> bool:
        """True when every repository of ``units`` has an activity snapshot produced after ``since``.

        A new holder starts without in-process state, so its first tick writes every snapshot of the unit.
        """
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

    async def leave(self, name: str) -> int:
        """Stop replica ``name`` with SIGTERM like a pod; its exit code (within 20 s)."""
        self.procs[name].send_signal(signal.SIGTERM)
        return await self.gone(name)

    async def kill(self, name: str, units: set[str], survivors: set[str]) -> Takeover:
        """kill -9 replica ``name``; wait for ``survivors`` to take over and collect its ``units``.

        The survivors get lease duration + 5 s to settle (else AssertionError), and the units' snapshots
        lease duration + one cycle + 3 s from the kill to be written again.
        """
        self.procs[name].kill()
        killed_at = time.time()
        await self.gone(name)
        await self.settle(survivors, LEASE_SECONDS + 5)
        taken = time.time() - killed_at
        deadline = killed_at + LEASE_SECONDS + CYCLE_SECONDS + 3
        while time.time() < deadline:
            await self.sample()
            if await self.collected_since(killed_at, units):
                break
            await asyncio.sleep(0.1)
        resumed = time.time() - killed_at
        return Takeover(taken, resumed, await self.collected_since(killed_at, units))

    async def assert_fenced_out(self, unit: str, epoch: int) -> None:
        """A write fenced with ``unit``'s ended term ``epoch`` is refused by the store."""
        store = RedisSnapshotStore(self.redis, key_prefix=self.prefix)
        with pytest.raises(FencedOut):
            await store.put_fenced(
                Snapshot(SnapshotKey("activity", ("acme", "stale")), (), 1.0), Fence(unit, epoch)
            )
