"""Two exporter processes with Redis leader election: exactly one collects; a stopped leader hands over."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import yaml
from tests.support.redis_server import RedisProcess, free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def write_config(path: Path, port: int, redis_port: int, prefix: str) -> Path:
    config = {
        "server": {"listen_addr": f"127.0.0.1:{port}", "log_level": "warning"},
        "github": {
            "api_base_url": f"http://127.0.0.1:{free_port()}",
            "orgs": [{"org": "acme", "token_env": "GH_T"}],
        },
        "retry": {"max_attempts": 1},
        "health": {"github_probe_interval": "1h"},
        "leader_election": {
            "enabled": True,
            "backend": "redis",
            "lease_duration": "4s",
            "renew_deadline": "3s",
            "retry_period": "200ms",
        },
        "store": {
            "backend": "redis",
            "redis_addr": f"127.0.0.1:{redis_port}",
            "key_prefix": prefix,
            "metric_refresh_interval": "100ms",
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def leader_gauge(session: aiohttp.ClientSession, port: int) -> int | None:
    try:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            body = await response.text()
    except aiohttp.ClientError:
        return None
    for line in body.splitlines():
        if line.startswith("gh_exporter_leader "):
            return int(float(line.split()[1]))
    return None


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_one_leader_and_a_clean_handover(
    redis_server: RedisProcess, key_prefix: str, tmp_path: Path, exporters
) -> None:
    """One replica leads, the other follows; SIGTERM on the leader releases the lease to the follower."""
    ports = [free_port(), free_port()]
    procs = []
    for n, port in enumerate(ports):
        config = write_config(tmp_path / f"c{n}.yaml", port, redis_server.port, key_prefix)
        procs.append(await exporters.start(config, tmp_path / f"e{n}.log", {"GH_T": "ghp_test_token_value"}))
    roles: list[int | None] = [None, None]
    try:
        async with aiohttp.ClientSession() as session:

            async def one_leader() -> bool:
                roles[:] = [await leader_gauge(session, port) for port in ports]
                return sorted(r for r in roles if r is not None) == [0, 1]

            assert await wait_for(one_leader, 20), (roles, (tmp_path / "e0.log").read_text()[-1500:])
            leader = roles.index(1)
            follower = 1 - leader
            procs[leader].send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(procs[leader].wait(), 20) == 0

            async def follower_leads() -> bool:
                return await leader_gauge(session, ports[follower]) == 1

            started = time.monotonic()
            # The leader releases the lease on shutdown, so the follower takes over on its next attempt
            # instead of waiting for the 4 s lease to expire.
            assert await wait_for(follower_leads, 5)
            handover = time.monotonic() - started
    finally:
        codes = await exporters.stop()
    assert codes == [0, 0]
    assert handover < 2.5
