"""Store backends for the contract suite: one factory per adapter, chosen by the ``store`` fixture's param.

Adding an adapter means one more entry in ``BACKENDS`` and one more param in ``STORE_PARAMS``, e.g.
``pytest.param("redis", marks=pytest.mark.integration)``; the tests themselves do not change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

import pytest

from github_stats_exporter.store.base import SnapshotStore
from github_stats_exporter.store.memory import MemorySnapshotStore


class StoreBackend(Protocol):
    """Builds stores of one adapter and lets time pass for them (TTL tests)."""

    async def make(self, *, max_series_budget: int = 0) -> SnapshotStore: ...

    async def elapse(self, seconds: float) -> None: ...

    async def close(self) -> None: ...


class MemoryBackend:
    """Memory stores sharing a fake clock, so TTL tests advance time instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self._stores: list[MemorySnapshotStore] = []

    def clock(self) -> float:
        return self.now

    async def make(self, *, max_series_budget: int = 0) -> SnapshotStore:
        store = MemorySnapshotStore(clock=self.clock, max_series_budget=max_series_budget)
        self._stores.append(store)
        return store

    async def elapse(self, seconds: float) -> None:
        self.now += seconds

    async def close(self) -> None:
        for store in self._stores:
            await store.close()


BACKENDS: dict[str, Callable[[], StoreBackend]] = {"memory": MemoryBackend}
STORE_PARAMS = [pytest.param("memory", id="memory")]


@pytest.fixture(params=STORE_PARAMS)
async def store_backend(request: pytest.FixtureRequest) -> AsyncIterator[StoreBackend]:
    backend = BACKENDS[request.param]()
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def store(store_backend: StoreBackend) -> SnapshotStore:
    return await store_backend.make()
