"""Real redis-server and Sentinel processes on free loopback ports, in the test's tmp dir.

Each fixture stops what it started. The standalone server persists with an append-only file (fsync
on every write), as a production setup would, so a restart in the middle of a test loses nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from tests.support.redis_server import RedisProcess, start_sentinel_setup

from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import EnterpriseSpec, OrgSpec, WorldSpec

MASTER_SET = "gse-test"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis", extra=("appendonly yes", "appendfsync always")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[tuple[RedisProcess, RedisProcess]]:
    master, sentinel = start_sentinel_setup(tmp_path / "sentinel-setup", MASTER_SET)
    try:
        yield master, sentinel
    finally:
        sentinel.stop()
        master.stop()


@pytest.fixture
def key_prefix() -> str:
    return f"it{uuid.uuid4().hex[:10]}"


class ExporterProcesses:
    """Real `github-stats-exporter serve` processes of one test; stopped with SIGTERM like a pod."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, config: Path, log: Path, env: Mapping[str, str]) -> asyncio.subprocess.Process:
        with log.open("wb") as stream:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "github_stats_exporter",
                "serve",
                "--config",
                str(config),
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=stream,
            )
        self.procs.append(proc)
        return proc

    async def stop(self, grace_seconds: float = 20.0) -> list[int | None]:
        """SIGTERM every process still running; the exit codes of all, in start order."""
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        return [await asyncio.wait_for(proc.wait(), grace_seconds) for proc in self.procs]


@pytest.fixture
async def exporters() -> AsyncIterator[ExporterProcesses]:
    """Starts exporter processes; any still running at teardown are killed."""
    processes = ExporterProcesses()
    yield processes
    for proc in processes.procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[tuple[Simulator, Path]]:
    """A small simulated GitHub (one org, an enterprise with Copilot) and the App key to reach it."""
    private, public = generate_key_pair()
    key = tmp_path / "app.pem"
    key.write_text(private)
    spec = WorldSpec(
        seed=12,
        orgs=(OrgSpec("acme", repos=7, users=5, app_id=11, installation_id=21),),
        enterprise=EnterpriseSpec("ent", app_id=11, installation_id=23, orgs=("acme",)),
        start=time.time(),
    )
    async with Simulator(spec) as simulator:
        simulator.add_app(11, public)
        yield simulator, key


class SimulatorConfig(Protocol):
    def __call__(
        self, path: Path, port: int, redis: RedisProcess, prefix: str, sim: Simulator, key: Path, **extra: Any
    ) -> Path: ...


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Writes a config collecting from the `sim` fixture's world into Redis (extra top-level sections)."""
    return write_config


def write_config(
    path: Path,
    port: int,
    redis: RedisProcess,
    prefix: str,
    sim: Simulator,
    key: Path,
    refresh: str = "1s",
    **extra: Any,
) -> Path:
    config: dict[str, Any] = {
        "server": {"listen_addr": f"127.0.0.1:{port}", "log_level": "warning"},
        "github": {
            "api_base_url": sim.api_url,
            "orgs": [
                {
                    "org": "acme",
                    "app_id": 11,
                    "installation_id": 21,
                    "private_key_path": str(key),
                    "scrape_interval": "10m",
                }
            ],
        },
        "health": {"github_probe_interval": "1h"},
        "copilot": {
            "enabled": True,
            "include_org_users_28d": True,
            "include_enterprise_28d": True,
            "enterprise": {
                "enabled": True,
                "slug": "ent",
                "app_id": 11,
                "installation_id": 23,
                "private_key_path": str(key),
            },
        },
        "store": {
            "backend": "redis",
            "redis_addr": f"127.0.0.1:{redis.port}",
            "key_prefix": prefix,
            "metric_refresh_interval": refresh,
        },
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path
