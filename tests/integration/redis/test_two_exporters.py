"""Two real exporter processes on one Redis serve byte-identical business series."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from tests.support.redis_server import RedisProcess, free_port

from github_stats_exporter import metrics as m
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.redis import RedisSnapshotStore

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BUSINESS = (b"gh_activity_", b"gh_copilot_")


def write_config(path: Path, port: int, redis_port: int, prefix: str) -> Path:
    config = {
        "server": {"listen_addr": f"127.0.0.1:{port}", "log_level": "warning"},
        "github": {
            "api_base_url": f"http://127.0.0.1:{free_port()}",
            "orgs": [{"org": "acme", "token_env": "GH_T"}],
        },
        "health": {"github_probe_interval": "1h"},
        "store": {
            "backend": "redis",
            "redis_addr": f"127.0.0.1:{redis_port}",
            "key_prefix": prefix,
            "metric_refresh_interval": "100ms",
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def business_lines(session: aiohttp.ClientSession, port: int, want: int) -> list[bytes]:
    deadline = time.monotonic() + 20
    lines: list[bytes] = []
    while time.monotonic() < deadline:
        try:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                body = await response.read()
                lines = [line for line in body.splitlines() if line.startswith(BUSINESS)]
                if response.status == 200 and len(lines) == want:
                    return lines
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    return lines


async def test_two_exporter_processes_serve_identical_business_series(
    redis_server: RedisProcess, key_prefix: str, tmp_path: Path, exporters
) -> None:
    """Both processes, refreshing from the same Redis, serve exactly the same gh_activity_/gh_copilot_ lines."""
    async with RedisSnapshotStore.standalone("127.0.0.1", redis_server.port, key_prefix=key_prefix) as store:
        for i in range(20):
            labels = {"org": "acme", "repo": f"r{i}", "user": f"u{i}"}
            samples = (m.ACTIVITY_COMMITS.sample(i, labels), m.ACTIVITY_PRS_OPENED.sample(1, labels))
            await store.put(Snapshot(SnapshotKey("activity", ("acme", f"r{i}")), samples, 1.0))
        copilot = m.COPILOT_INTERACTIONS.sample(
            7, {"org": "acme", "repo": "*", "user": "all", "window": "28d"}
        )
        await store.put(Snapshot(SnapshotKey("copilot", ("acme", "org", "28d")), (copilot,), 1.0))
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"e{n}.log" for n in range(2)]
    for n, port in enumerate(ports):
        config = write_config(tmp_path / f"c{n}.yaml", port, redis_server.port, key_prefix)
        await exporters.start(config, logs[n], {"GH_T": "ghp_test_token_value"})
    try:
        async with aiohttp.ClientSession() as session:
            first, second = [await business_lines(session, port, 41) for port in ports]
    finally:
        codes = await exporters.stop()
    assert len(first) == 41, logs[0].read_text()[-2000:]
    assert first == second
    assert codes == [0, 0]
