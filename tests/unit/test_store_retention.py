"""build_store: the memory and the Redis store keep snapshots for the same effective retention.

The configured `store.retention` is raised by `snapshot_retention` (two refreshes of the slowest
source, two days with Copilot on); both backends must get the raised value, not only Redis. The memory
store is driven by a fake clock; the Redis case runs a real redis-server and reads the key's TTL there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from tests.support.redis_server import RedisProcess

from github_stats_exporter.app.runtime import build_store, snapshot_retention
from github_stats_exporter.config import Settings, parse_config
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.store.redis import RedisSnapshotStore

DAY = 86400.0
KEY = SnapshotKey("copilot", ("acme", "org", "28d"))


def settings_with(**sections: Any) -> Settings:
    return parse_config(
        {"github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN"}]}, **sections},
        environ={"GH_TOKEN": "ghp_exampletoken"},
    )


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        pytest.param({"copilot": {"enabled": True}}, 2 * DAY, id="copilot-on-defaults"),
        pytest.param({"store": {"retention": "1h"}}, 2 * DAY, id="short-retention-raised-by-loc"),
        pytest.param({"store": {"retention": "30d"}}, 30 * DAY, id="long-retention-kept"),
    ],
)
def test_snapshot_retention_covers_the_slowest_refresh(sections: dict[str, Any], expected: float) -> None:
    """The effective retention is the configured one, raised to two refreshes of every source."""
    assert snapshot_retention(settings_with(**sections)) == expected


async def test_memory_store_keeps_a_snapshot_for_the_effective_retention() -> None:
    """With Copilot on and default config, a snapshot written at t is served until t + 2 days (not 24h)."""
    settings = settings_with(copilot={"enabled": True})
    assert settings.store.retention.total_seconds() == DAY  # configured: shorter than effective
    clock = FakeClock(1_000_000.0)
    store = build_store(settings, clock)
    assert isinstance(store, MemorySnapshotStore)
    written = clock.now
    await store.put(Snapshot(KEY, (Sample("gh_copilot_users", (("org", "acme"),), 1.0),), written))

    clock.now = written + DAY + 60  # past the configured retention
    assert KEY in await store.get_many([KEY])
    clock.now = written + 2 * DAY - 1
    assert KEY in await store.get_many([KEY])
    clock.now = written + 2 * DAY + 1
    assert KEY not in await store.get_many([KEY])


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    "backend",
    [pytest.param("memory", id="memory"), pytest.param("redis", id="redis", marks=pytest.mark.integration)],
)
async def test_both_backends_get_the_same_effective_retention(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """build_store hands snapshot_retention (not the configured 2h) to either backend."""
    store_section: dict[str, Any] = {"backend": backend, "retention": "2h"}
    if backend == "redis":
        server: RedisProcess = request.getfixturevalue("redis_server")
        store_section |= {"redis_addr": f"127.0.0.1:{server.port}"}
    settings = settings_with(copilot={"enabled": True}, store=store_section)
    effective = snapshot_retention(settings)
    assert effective == 2 * DAY
    clock = FakeClock(1_000_000.0)
    store = build_store(settings, clock)
    written = clock.now
    try:
        await store.put(Snapshot(KEY, (Sample("gh_copilot_users", (("org", "acme"),), 1.0),), written))
        if isinstance(store, MemorySnapshotStore):
            clock.now = written + effective - 1
            assert KEY in await store.get_many([KEY])
            clock.now = written + effective + 1
            assert KEY not in await store.get_many([KEY])
        else:
            assert isinstance(store, RedisSnapshotStore)
            # Redis expires the snapshot itself, so the test reads the key's TTL from Redis.
            pttl = await snapshot_pttl(settings.store.redis_addr, settings.store.key_prefix)
            assert effective * 1000 - 60_000 < pttl <= effective * 1000
    finally:
        await store.close()


async def snapshot_pttl(addr: str, prefix: str) -> int:
    """The time to live (ms) left on the one snapshot key (``<prefix>:snap:*``, see store/redis.py)."""
    client = Redis.from_url(f"redis://{addr}")
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:snap:*")]
        assert len(keys) == 1
        return int(await client.pttl(keys[0]))
    finally:
        await client.aclose()
