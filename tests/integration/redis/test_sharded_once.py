"""`once` with a sharded config on a real Redis: one process collects every shard, takes no unit lease.

docs/scaling.md says `once` ignores ``leader_election.mode``; these tests hold it to that with three
shards per org: every activity and LOC value equals the simulator's truth, no membership or unit
lease is left in Redis, and the command exits 0.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.asyncio import Redis
from tests.support.once_truth import assert_once_exports_the_truth, truth_world
from tests.support.redis_server import RedisProcess

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def sharded_config(sim: Simulator, key: Path, redis: RedisProcess, prefix: str) -> dict[str, Any]:
    org = {"app_id": 11, "private_key_path": str(key), "shards": 3}
    return {
        "server": {"listen_addr": "127.0.0.1:0", "log_level": "warning"},
        "github": {
            "api_base_url": sim.api_url,
            "orgs": [
                {"org": "acme", "installation_id": 21, **org},
                {"org": "globex", "installation_id": 22, **org},
            ],
        },
        "retry": {"max_attempts": 2, "initial_backoff": "10ms", "max_backoff": "20ms"},
        "health": {"github_probe_interval": "1h"},
        "loc": {
            "fallback_enabled": True,
            "large_repo_zero_detection_windows": 1,
            "fallback_max_commits_per_repo_per_week": 5000,
            "fallback_max_commit_detail_calls_per_org_per_hour": 5000,
        },
        "leader_election": {"enabled": True, "backend": "redis", "mode": "sharded"},
        "store": {"backend": "redis", "redis_addr": f"127.0.0.1:{redis.port}", "key_prefix": prefix},
    }


async def coordination_keys(redis: RedisProcess, prefix: str) -> list[str]:
    """Every membership, unit-lease and epoch key under ``prefix``."""
    client = Redis(host="127.0.0.1", port=redis.port)
    try:
        found = [*await client.keys(f"{prefix}:unit:*"), *await client.keys(f"{prefix}:members")]
        return sorted(k.decode() if isinstance(k, bytes) else k for k in found)
    finally:
        await client.aclose()


async def test_once_with_three_shards_exports_exactly_the_truth_and_takes_no_lease(
    redis_server: RedisProcess, key_prefix: str, tmp_path: Path
) -> None:
    """One `once` run over a sharded config exports every activity and LOC value of the truth, and no lease."""
    private, public = generate_key_pair()
    key = tmp_path / "app.pem"
    key.write_text(private)
    start = time.time()
    spec = truth_world(start)
    clock = SimClock(frozen_at=start)
    async with Simulator(spec, clock=clock) as sim:
        sim.add_app(11, public)
        data = sharded_config(sim, key, redis_server, key_prefix)
        await assert_once_exports_the_truth(data, sim, clock)
        assert await coordination_keys(redis_server, key_prefix) == []

        # The command itself, on the same config: exit code 0, still no lease.
        config = tmp_path / "once.yaml"
        config.write_text(yaml.safe_dump(data))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "github_stats_exporter",
            "once",
            "--config",
            str(config),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 120.0)
        assert proc.returncode == 0, err.decode(errors="replace")
        assert await coordination_keys(redis_server, key_prefix) == []
