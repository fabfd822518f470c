"""Store backends for the contract suite: one factory per adapter, chosen by the ``store`` fixture's param.

Adding an adapter means one more entry in ``BACKENDS`` and one more param in ``STORE_PARAMS``; the
tests themselves do not change. The Redis backend runs against a real redis-server started once per
session on a free loopback port; every test gets its own key prefix.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from github_stats_exporter.store.base import SnapshotStore
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.store.redis import RedisSnapshotStore
from github_stats_exporter.store.redis_server import RedisProcess


class StoreBackend(Protocol):
    """Builds stores of one adapter and lets time pass for them (TTL tests)."""

    async def make(
        self, *, max_series_budget: int = 0, retention_seconds: float | None = None
    ) -> SnapshotStore: ...

    async def elapse(self, seconds: float) -> None: ...

    def time(self) -> float:
        """The time the backend's stores live in (what `gc(now)` expects)."""
        ...

    async def close(self) -> None: ...


class MemoryBackend:
    """Memory stores sharing a fake clock, so TTL tests advance time instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self._stores: list[MemorySnapshotStore] = []

    def clock(self) -> float:
        return self.now

    async def make(
        self, *, max_series_budget: int = 0, retention_seconds: float | None = None
    ) -> SnapshotStore:
        store = MemorySnapshotStore(
            clock=self.clock, max_series_budget=max_series_budget, retention_seconds=retention_seconds
        )
        self._stores.append(store)
        return store

    async def elapse(self, seconds: float) -> None:
        self.now += seconds

    def time(self) -> float:
        return self.now

    async def close(self) -> None:
        for store in self._stores:
            await store.close()


class RedisBackend:
    """Stores on the session's redis-server, all sharing one fresh key prefix; time passes for real."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self._stores: list[RedisSnapshotStore] = []

    async def make(
        self, *, max_series_budget: int = 0, retention_seconds: float | None = None
    ) -> SnapshotStore:
        store = RedisSnapshotStore.standalone(
            "127.0.0.1",
            self.port,
            key_prefix=self.prefix,
            max_series_budget=max_series_budget,
            retention_seconds=retention_seconds,
        )
        self._stores.append(store)
        return store

    async def elapse(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def time(self) -> float:
        return time.time()

    async def close(self) -> None:
        for store in self._stores:
            await store.close()


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server = RedisProcess(Path(tmp_path_factory.mktemp("contract-redis"))).start()
    try:
        yield server.port
    finally:
        server.stop()


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], StoreBackend]] = {
    "memory": lambda _: MemoryBackend(),
    "redis": lambda request: RedisBackend(request.getfixturevalue("redis_port")),
}
STORE_PARAMS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.integration),
]


@pytest.fixture(params=STORE_PARAMS)
async def store_backend(request: pytest.FixtureRequest) -> AsyncIterator[StoreBackend]:
    backend = BACKENDS[request.param](request)
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def store(store_backend: StoreBackend) -> SnapshotStore:
    return await store_backend.make()
