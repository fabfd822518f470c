"""Sharded collection with real exporter processes on a real Redis: join, leave and kill -9.

Three `serve` processes share the work units of two simulated orgs (three shards each). The test reads
the unit leases and fencing epochs straight from Redis and every replica's `/healthz` to check that no
unit ever has two current holders, that a replica joining or leaving moves only what it must, that a
killed replica's units are collected again within lease duration plus one cycle, that a write
fenced with an ended term is refused by the store, and that after rebalancing every replica serves the
same page (but for the per-process families), with the collector gauges and collection health of every
org once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.redis_server import RedisProcess
from tests.support.sharded_cluster import (
    CYCLE_SECONDS,
    LEASE_SECONDS,
    ORGS,
    UNITS,
    Holders,
    ShardedCluster,
    moves,
    sharded_world,
)

from github_stats_exporter.cluster_parts import PART_PREFIX, decode_part
from github_stats_exporter.metrics import PER_PROCESS
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.store.redis import RedisSnapshotStore

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ELECTION = {"backend": "redis"}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Simulator, Path]]:
    async with sharded_world(tmp_path, seed=31) as world:
        yield world


def family_of(line: str) -> str:
    """The family a page line belongs to (a sample's name without suffixes, or a comment's subject)."""
    if line.startswith("#"):
        parts = line.split()
        return parts[2] if len(parts) > 2 else ""
    name = line.split("{", 1)[0].split(" ", 1)[0]
    for suffix in ("_total", "_created", "_bucket", "_count", "_sum", "_info"):
        if name.removesuffix(suffix) in PER_PROCESS:
            return name.removesuffix(suffix)
    return name


def once_per_org(page: list[str], family: str) -> dict[str, int]:
    """org -> how many samples of ``family`` carry that org on the page."""
    counts = dict.fromkeys(ORGS, 0)
    for line in page:
        if line.startswith(family + "{"):
            for org in ORGS:
                if f'org="{org}"' in line:
                    counts[org] += 1
    return counts


class Cluster(ShardedCluster):
    """The unit leases in Redis and the replicas' own view of what they hold."""

    async def holders(self) -> Holders:
        """unit -> (holder named by its lease, current epoch); units without a live lease are absent."""
        out: Holders = {}
        for unit in UNITS:
            # One MGET: a lease changing hands between two GETs would pair a holder with another term.
            holder, epoch = await self.redis.mget(
                f"{self.prefix}:unit:{unit}", f"{self.prefix}:unit:{unit}:epoch"
            )
            if holder is not None:
                out[unit] = (holder.decode() if isinstance(holder, bytes) else holder, int(epoch or 0))
        return out

    async def sample(self) -> Holders:
        """No unit is claimed by two replicas in its current term (a stale claim has a lower epoch)."""
        claims = await self.claims()
        holders = await self.holders()
        epochs = {unit: int(await self.redis.get(f"{self.prefix}:unit:{unit}:epoch") or 0) for unit in UNITS}
        for unit in UNITS:
            current = [name for name, held in claims.items() if held.get(unit) == epochs[unit]]
            assert len(current) <= 1, (unit, claims)
        return holders

    async def shared_pages(self) -> dict[str, list[str]]:
        """replica -> its `/metrics` lines without the per-process families."""
        out: dict[str, list[str]] = {}
        for name, port in self.ports.items():
            async with self.session.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
            out[name] = [line for line in text.splitlines() if family_of(line) not in PER_PROCESS]
        return out

    async def shared_etag_hits(self, name: str) -> float:
        """The cluster's `gh_exporter_github_shared_etag_lookups_total{result="hit"}`, as replica ``name`` serves it."""
        async with self.session.get(f"http://127.0.0.1:{self.ports[name]}/metrics") as response:
            text = await response.text()
        prefix = "gh_exporter_github_shared_etag_lookups_total{"
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(prefix) and 'result="hit"' in line
        )

    async def collection_healthy(self, org: str) -> bool:
        """True when every replica's `/healthz` reports the org's activity component healthy."""
        for port in self.ports.values():
            async with self.session.get(f"http://127.0.0.1:{port}/healthz") as response:
                doc = await response.json()
            if doc["components"].get(f"activity:{org}") is not True:
                return False
        return True

    async def parts_follow_units(self) -> bool:
        """True when every replica's published part reports exactly the orgs it holds a shard of."""
        store = RedisSnapshotStore(self.redis, key_prefix=self.prefix)
        holders = await self.holders()
        for name in self.ports:
            raw = await store.get_checkpoint(PART_PREFIX + name)
            if raw is None:
                return False
            held = {
                f"activity:{u.removeprefix('repos:org/').partition('#')[0]}"
                for u, (h, _) in holders.items()
                if h == name
            }
            if {c for c in decode_part(raw).health if c.startswith("activity:")} != held:
                return False
        return True

    async def pages_agree(self, within: float) -> list[str]:
        """Wait until every replica serves the same page, merged from every replica's part; returns it."""
        deadline = time.monotonic() + within
        pages: dict[str, list[str]] = {}
        while time.monotonic() < deadline:
            if not await self.parts_follow_units():
                await asyncio.sleep(0.2)
                continue
            pages = await self.shared_pages()
            first = next(iter(pages.values()))
            healthy = [await self.collection_healthy(org) for org in ORGS]
            gauges = [f'gh_exporter_collection_health{{component="activity:{o}"}} 1' in first for o in ORGS]
            # The epoch gauges are the leader's view of the leases as of its last round: a page published
            # just before a moved unit was taken again lacks it, so wait for the view of the leases now.
            leases = await self.holders()
            view = {
                f'gh_exporter_shard_unit_epoch{{unit="{unit}",replica="{holder}"}} {epoch}'
                for unit, (holder, epoch) in leases.items()
            }
            epochs = {line for line in first if line.startswith("gh_exporter_shard_unit_epoch{")}
            if (
                all(page == first for page in pages.values())
                and all(healthy)
                and all(gauges)
                and set(leases) == set(UNITS)
                and epochs == view
            ):
                return first
            await asyncio.sleep(0.2)
        msg = f"replica pages did not converge: {sorted(pages)}"
        raise AssertionError(msg)


async def test_replicas_share_units_and_a_killed_replica_is_replaced(
    redis_server: RedisProcess, key_prefix: str, tmp_path: Path, exporters, world: tuple[Simulator, Path]
) -> None:
    """Join, leave and kill -9 move units without two current holders; a killed replica's units resume in time."""
    async with Cluster(
        exporters=exporters,
        workdir=tmp_path,
        redis_port=redis_server.port,
        prefix=key_prefix,
        world=world,
        election=ELECTION,
    ) as cluster:
        await cluster.start("r1")
        await cluster.start("r2")
        two = await cluster.settle({"r1", "r2"}, 20)

        await cluster.start(
            "r3"
        )  # join: only the units the assignment moves (r3's share, a few more) change holder
        three = await cluster.settle({"r1", "r2", "r3"}, 20)
        moved = {u for u in UNITS if three[u][0] != two[u][0]}
        assert moved == moves({"r1", "r2"}, {"r1", "r2", "r3"})
        assert {u for u in UNITS if three[u][0] == "r3"} <= moved
        assert all(three[u][1] > two[u][1] for u in moved)

        # Every replica collects its units and publishes its part; every page merges all of them.
        page = await cluster.pages_agree(30)
        for family in ("gh_exporter_activity_repos", "gh_exporter_scrape_duration_seconds"):
            assert once_per_org(page, family) == dict.fromkeys(ORGS, 1), (family, page)
        epochs = [line for line in page if line.startswith("gh_exporter_shard_unit_epoch{")]
        assert sorted(line.split('unit="')[1].split('"')[0] for line in epochs) == sorted(UNITS)
        assert all(f'replica="{three[u][0]}"' in line for line in epochs for u in UNITS if f'"{u}"' in line)

        assert await cluster.leave("r1") == 0  # leave: its units are released at once
        after_leave = await cluster.settle({"r2", "r3"}, 5)
        assert all(after_leave[u] == three[u] for u in UNITS if three[u][0] != "r1")

        victim_units = {u for u, (h, _) in after_leave.items() if h == "r2"}
        hits_before = await cluster.shared_etag_hits("r3")
        # kill -9: nothing is released, the leases must expire
        takeover = await cluster.kill("r2", victim_units, {"r3"})
        assert takeover.collected, takeover
        # The new holder asked for the moved repositories with the validators r2 had stored (shared
        # ETags, docs/scaling.md): at least one per moved repository unit, where it had none of its own.
        moved_repo_units = [u for u in victim_units if u.startswith("repos:")]
        # Counters reach the page through the store's flush, so the total may lag the requests a little.
        deadline = time.monotonic() + 15
        while await cluster.shared_etag_hits("r3") - hits_before < len(moved_repo_units):
            assert time.monotonic() < deadline, (hits_before, moved_repo_units)
            await asyncio.sleep(0.5)
        assert moved_repo_units
        page = await cluster.pages_agree(10)
        # The survivor's page covers every org once, without the killed replica's last part.
        assert once_per_org(page, "gh_exporter_scrape_duration_seconds") == dict.fromkeys(ORGS, 1)

        # The killed replica's last term is over: a write fenced with it is refused by the store.
        unit = sorted(victim_units)[0]
        await cluster.assert_fenced_out(unit, after_leave[unit][1])
    assert cluster.exit_codes[0] == 0
    assert cluster.exit_codes[2] == 0
    assert takeover.resumed <= LEASE_SECONDS + CYCLE_SECONDS + 3
