"""Real redis-server processes on free loopback ports for the Redis lease tests; each test stops its own.

`persistent` keeps data across restarts (append-only file, fsync always), `ephemeral` loses everything
on restart, like a cache-style Redis with persistence turned off.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.redis_server import RedisProcess

PERSISTENCE = {
    "persistent": ("appendonly yes", "appendfsync always"),
    "ephemeral": (),
}


@pytest.fixture(params=["persistent"])
def redis_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis", extra=PERSISTENCE[request.param]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def key_prefix() -> str:
    return f"it{uuid.uuid4().hex[:10]}"
