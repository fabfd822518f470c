"""What one shard coordination round costs on a real Redis, and the connection it runs on.

docs/scaling.md ("Cost of a round") states it: a settled round is the membership script, one renewal
script for every held unit and one MGET of the cluster's view, however many units the replica holds; and
coordination has a Redis client of its own, so it never queues behind the collectors' store traffic.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest
from redis.asyncio import Redis
from tests.support.redis_server import RedisProcess

from github_stats_exporter.app.runtime import build_store, build_unit_leases
from github_stats_exporter.config import parse_config
from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.leader.shards import Holders, ShardCoordinator
from github_stats_exporter.leader.units import plan_units
from github_stats_exporter.store.redis import RedisSnapshotStore

pytestmark = pytest.mark.integration

TIMINGS = LeaseTimings(lease_duration=4.0, renew_deadline=2.7, retry_period=0.5)


async def round_trips(client: Redis) -> dict[str, int]:
    """Calls of the commands a client sends by itself (scripts and MGET) since the last CONFIG RESETSTAT."""
    stats = await client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}
    return {name: calls[name] for name in ("evalsha", "eval", "script|load", "mget") if name in calls}


@pytest.mark.parametrize("orgs", [pytest.param(1, id="3-units"), pytest.param(20, id="60-units")])
async def test_a_settled_round_costs_three_commands_whatever_the_units_held(
    redis_server: RedisProcess, orgs: int
) -> None:
    """One replica holding 3 or 60 units renews them all with one EVALSHA: a round is beat, renewal, view."""
    units = plan_units({f"org{i}": 3 for i in range(orgs)})
    prefix = f"cost-{uuid.uuid4().hex[:8]}"
    store = RedisSnapshotStore.standalone("127.0.0.1", redis_server.port, key_prefix=prefix)
    inspector = Redis(host="127.0.0.1", port=redis_server.port)
    views: list[Holders] = []
    coordinator = ShardCoordinator(store, identity="a", units=units, timings=TIMINGS, on_view=views.append)
    try:
        for _ in range(2):  # acquire, then renew once so every script is loaded
            await coordinator.step(lambda _: None)
        assert len(coordinator.held) == len(units)

        await inspector.config_resetstat()
        await coordinator.step(lambda _: None)

        assert await round_trips(inspector) == {"evalsha": 2, "mget": 1}
        assert len(coordinator.held) == len(units)
        assert views[-1] == {name: ("a", epoch) for name, epoch in coordinator.held.items()}
        ttls = [await inspector.pttl(f"{prefix}:unit:{name}") for name in coordinator.held]
        assert min(ttls) > 3_000  # every lease was extended to a fresh 4 s
    finally:
        await inspector.aclose()
        await store.close()


async def test_coordination_runs_on_a_redis_connection_of_its_own(redis_server: RedisProcess) -> None:
    """On Redis the unit leases are a second client of the same server and prefix, not the store's client."""
    settings = parse_config(
        {
            "github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN", "shards": 2}]},
            "leader_election": {"enabled": True, "backend": "redis", "mode": "sharded"},
            "store": {
                "backend": "redis",
                "redis_addr": f"127.0.0.1:{redis_server.port}",
                "key_prefix": "own",
            },
        },
        environ={"GH_TOKEN": "ghp_exampletoken"},
    )
    inspector = Redis(host="127.0.0.1", port=redis_server.port)
    store = build_store(settings, lambda: 0.0)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        stack.push_async_callback(inspector.aclose)
        leases = build_unit_leases(settings, store, stack)
        assert leases is not store

        before = int((await inspector.info("clients"))["connected_clients"])
        await store.ping()
        epoch = await leases.acquire_unit("repos:org/acme#0/2", "a", 30)
        after = int((await inspector.info("clients"))["connected_clients"])

        assert after == before + 2
        assert await store.unit_epochs(["repos:org/acme#0/2"]) == {"repos:org/acme#0/2": epoch}
