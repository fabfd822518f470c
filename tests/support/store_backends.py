"""Store backends for the contract suites: build stores of one adapter and let time pass for them.

The memory backend shares a fake clock, so TTL tests advance time instead of sleeping; the Redis backend
uses a real redis-server (started by the caller) and one fresh key prefix per backend.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Protocol

from github_stats_exporter.store.base import FragmentEncoder, Store
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.store.redis import RedisSnapshotStore


class StoreBackend(Protocol):
    """Builds stores of one adapter and lets time pass for them (TTL tests)."""

    async def make(
        self,
        *,
        max_series_budget: int = 0,
        retention_seconds: float | None = None,
        fragments: FragmentEncoder | None = None,
    ) -> Store: ...

    async def elapse(self, seconds: float) -> None: ...

    def time(self) -> float:
        """The time the backend's stores live in (what `gc(now)` expects)."""
        ...

    async def close(self) -> None: ...


class MemoryBackend:
    """Memory stores sharing a fake clock."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self._stores: list[MemorySnapshotStore] = []

    def clock(self) -> float:
        return self.now

    async def make(
        self,
        *,
        max_series_budget: int = 0,
        retention_seconds: float | None = None,
        fragments: FragmentEncoder | None = None,
    ) -> Store:
        store = MemorySnapshotStore(
            clock=self.clock,
            max_series_budget=max_series_budget,
            retention_seconds=retention_seconds,
            fragments=fragments,
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
    """Stores on one redis-server, all sharing one fresh key prefix; time passes for real."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self._stores: list[RedisSnapshotStore] = []

    async def make(
        self,
        *,
        max_series_budget: int = 0,
        retention_seconds: float | None = None,
        fragments: FragmentEncoder | None = None,
    ) -> Store:
        store = RedisSnapshotStore.standalone(
            "127.0.0.1",
            self.port,
            key_prefix=self.prefix,
            max_series_budget=max_series_budget,
            retention_seconds=retention_seconds,
            fragments=fragments,
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
