"""Real redis-server and Sentinel processes on free loopback ports, in the test's tmp dir.

Each fixture stops what it started. The standalone server persists with an append-only file (fsync
on every write), as a production setup would, so a restart in the middle of a test loses nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from github_stats_exporter.store.redis_server import RedisProcess, start_sentinel_setup

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
