"""A leader and a follower process on one Redis, collecting from the simulator, serve the same series.

The leader collects activity, LOC and Copilot reports; the follower never talks to GitHub for data,
yet serves byte-identical business series, Copilot included (docs/metrics.md, cluster state).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.store.redis_server import RedisProcess, free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BUSINESS = (b"gh_activity_", b"gh_copilot_")


async def business_lines(session: aiohttp.ClientSession, port: int) -> list[bytes]:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        body = await response.read()
    return sorted(line for line in body.splitlines() if line.startswith(BUSINESS))


async def test_follower_serves_what_the_leader_collected(
    redis_server: RedisProcess,
    key_prefix: str,
    tmp_path: Path,
    sim: tuple[Simulator, Path],
    exporters,
    sim_config,
) -> None:
    """Leader and follower pages agree line for line, and include activity, LOC and Copilot series."""
    simulator, key = sim
    ports = [free_port(), free_port()]
    for n, (port, role) in enumerate(zip(ports, ("leader", "follower"), strict=True)):
        config = sim_config(
            tmp_path / f"c{n}.yaml", port, redis_server, key_prefix, simulator, key, refresh="200ms"
        )
        await exporters.start(config, tmp_path / f"{role}.log", {"GITHUB_STATS_INITIAL_ROLE": role})
    leader: list[bytes] = []
    follower: list[bytes] = []
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    leader = await business_lines(session, ports[0])
                    follower = await business_lines(session, ports[1])
                except aiohttp.ClientError:
                    leader, follower = [], []
                families = {line.split(b"{")[0] for line in leader}
                complete = {b"gh_activity_commits_24h", b"gh_activity_loc_added_weekly"} <= families and any(
                    f.startswith(b"gh_copilot_") for f in families
                )
                if complete and leader == follower:
                    break
                await asyncio.sleep(0.3)
    finally:
        codes = await exporters.stop(30.0)
    assert leader, (tmp_path / "leader.log").read_text()[-2000:]
    assert leader == follower
    assert any(b'scope="enterprise"' in line for line in leader)
    assert any(b'scope="users"' in line for line in leader)
    assert codes == [0, 0]
