"""In-process snapshot store: the single-replica backend and the reference for the store contract.

It keeps everything in dicts of one process and must not grow features the Redis adapter cannot offer
(every behaviour here is checked by the shared contract suite in ``tests/contract``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping

from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.base import SeriesBudgetExceeded, StoreUnavailable


def _check_ttl(ttl_seconds: float) -> None:
    if not ttl_seconds > 0:
        msg = f"ttl_seconds must be positive, got {ttl_seconds!r}"
        raise ValueError(msg)


class MemorySnapshotStore:
    """Snapshots, checkpoints and locks in memory, with TTLs read from an injectable clock.

    Versions come from one store-wide counter, so a key that is deleted and written again still gets a
    version above every earlier one (a reader comparing versions never mistakes the new data for the old).
    """

    def __init__(self, clock: Callable[[], float] = time.time, max_series_budget: int = 0) -> None:
        if max_series_budget < 0:
            msg = f"max_series_budget must be >= 0 (0 disables it), got {max_series_budget}"
            raise ValueError(msg)
        self._clock = clock
        self._budget = max_series_budget
        self._snapshots: dict[SnapshotKey, Snapshot] = {}
        self._series = 0
        self._generation = 0
        self._checkpoints: dict[str, tuple[dict[str, str], float | None]] = {}
        self._locks: dict[str, float] = {}
        self._closed = False

    @property
    def series_count(self) -> int:
        """Series held by all snapshots together (what the budget limits)."""
        return self._series

    async def put(self, snapshot: Snapshot) -> int:
        self._check_open()
        old = self._snapshots.get(snapshot.key)
        old_len = len(old.samples) if old is not None else 0
        new_len = len(snapshot.samples)
        added = new_len - old_len
        if self._budget and added > 0 and self._series + added > self._budget:
            raise SeriesBudgetExceeded(snapshot.key, added, self._budget)
        self._generation += 1
        stored = dataclasses.replace(snapshot, version=self._generation, meta=dict(snapshot.meta))
        self._snapshots[snapshot.key] = stored
        self._series += added
        return stored.version

    async def delete(self, key: SnapshotKey) -> None:
        self._check_open()
        old = self._snapshots.pop(key, None)
        if old is not None:
            self._series -= len(old.samples)
            self._generation += 1

    async def generation(self) -> int:
        self._check_open()
        return self._generation

    async def versions(self) -> dict[SnapshotKey, int]:
        self._check_open()
        return {key: snap.version for key, snap in self._snapshots.items()}

    async def get_many(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        self._check_open()
        found: dict[SnapshotKey, Snapshot] = {}
        for key in keys:
            snap = self._snapshots.get(key)
            if snap is not None:
                found[key] = snap
        return found

    async def get_checkpoint(self, name: str) -> Mapping[str, str] | None:
        self._check_open()
        entry = self._checkpoints.get(name)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= self._clock():
            del self._checkpoints[name]
            return None
        return dict(value)

    async def set_checkpoint(
        self, name: str, value: Mapping[str, str], ttl_seconds: float | None = None
    ) -> None:
        self._check_open()
        expires_at = None
        if ttl_seconds is not None:
            _check_ttl(ttl_seconds)
            expires_at = self._clock() + ttl_seconds
        self._checkpoints[name] = (dict(value), expires_at)

    async def try_lock(self, name: str, ttl_seconds: float) -> bool:
        self._check_open()
        _check_ttl(ttl_seconds)
        now = self._clock()
        expires_at = self._locks.get(name)
        if expires_at is not None and expires_at > now:
            return False
        self._locks[name] = now + ttl_seconds
        return True

    async def release_lock(self, name: str) -> None:
        self._check_open()
        self._locks.pop(name, None)

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True

    async def __aenter__(self) -> MemorySnapshotStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def gc(self) -> int:
        """Drop expired checkpoints and locks; returns how many records went away."""
        now = self._clock()
        expired_checkpoints = [
            name
            for name, (_, expires_at) in self._checkpoints.items()
            if expires_at is not None and expires_at <= now
        ]
        expired_locks = [name for name, expires_at in self._locks.items() if expires_at <= now]
        for name in expired_checkpoints:
            del self._checkpoints[name]
        for name in expired_locks:
            del self._locks[name]
        return len(expired_checkpoints) + len(expired_locks)

    def _check_open(self) -> None:
        # A closed Redis client fails the same way, so callers exercise their StoreUnavailable path.
        if self._closed:
            msg = "memory store is closed"
            raise StoreUnavailable(msg)
