"""Shared fixtures for backfill unit tests: a settable clock, a memory store on it, a memory queue."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from github_stats_exporter.backfill.memory import MemoryJobQueue
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore

T0 = 1_717_243_200.0  # 2024-06-01T12:00:00Z


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> MemorySnapshotStore:
    return MemorySnapshotStore(clock=clock)


@pytest.fixture
def metrics() -> SelfMetrics:
    return SelfMetrics()


@pytest.fixture
async def queue(clock: Clock) -> AsyncIterator[MemoryJobQueue]:
    q = MemoryJobQueue(queue="gh.backfill.jobs", clock=clock)
    yield q
    await q.close()
