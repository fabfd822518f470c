"""The store port: versioned snapshots, checkpoints and short-lived locks.

This module holds the Protocol and the errors only. Adapters (`memory.py`, `redis.py`) implement it;
nothing here may import an adapter or a third-party client.

Design for a remote store (Redis): every method is one or a few pipelined round trips, and
`generation()` lets a reader learn "nothing changed" with a single cheap call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from github_stats_exporter.errors import ExporterError
from github_stats_exporter.model import Labels, Snapshot, SnapshotKey

CounterKey = tuple[str, Labels]
"""A counter series in the cluster-wide totals: family name and labels (the sample's identity)."""


class StoreError(ExporterError):
    """Base class of store failures.

    * StoreError
      + StoreUnavailable   the backend cannot be reached (retry later, never fall back silently)
      + SeriesBudgetExceeded  a write would push the series count over ``store.max_series_budget``
    """


class StoreUnavailable(StoreError):
    """The backend did not answer; callers keep what they have and retry."""


class SeriesBudgetExceeded(StoreError):
    """A snapshot would add series beyond the configured budget; the old snapshot stays."""

    def __init__(self, key: SnapshotKey, new_series: int, budget: int) -> None:
        self.key = key
        self.new_series = new_series
        self.budget = budget
        super().__init__(f"snapshot {key} would add {new_series} series over the budget of {budget}")


@runtime_checkable
class SnapshotStore(Protocol):
    """Shared state behind `/metrics` and the collectors.

    Snapshot semantics: `put` replaces the whole previous snapshot of the same key atomically and
    returns the new version (strictly greater than any earlier version of that key). `generation`
    increases on every put or delete anywhere, so an unchanged generation means nothing to re-read.

    Retention: a snapshot not re-written within the store's retention expires; `get_many` stops
    returning it at once, `versions` and the series count forget it at the next `gc` (run by the leader).

    Counters: `add_counters` adds every replica's self-metric increments to shared totals, so each
    replica can serve the same monotonic `_total` values; refused budget writes are counted there too.
    """

    async def put(self, snapshot: Snapshot) -> int:
        """Replace the snapshot stored under ``snapshot.key``; returns the new version."""
        ...

    async def delete(self, key: SnapshotKey) -> None:
        """Remove a snapshot (its series disappear from `/metrics`)."""
        ...

    async def generation(self) -> int:
        """A counter that changes whenever any snapshot is written or deleted."""
        ...

    async def versions(self) -> dict[SnapshotKey, int]:
        """Current version of every stored snapshot."""
        ...

    async def get_many(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        """Fetch snapshots; keys that vanished meanwhile are simply absent from the result."""
        ...

    async def get_checkpoint(self, name: str) -> Mapping[str, str] | None:
        """Read a small named record (collection checkpoints, ledgers' metadata)."""
        ...

    async def set_checkpoint(
        self, name: str, value: Mapping[str, str], ttl_seconds: float | None = None
    ) -> None:
        """Write a small named record, replacing the old one; ``ttl_seconds`` bounds its lifetime."""
        ...

    async def try_lock(self, name: str, ttl_seconds: float) -> bool:
        """Take a lock that expires by itself; False when someone else holds it (dedup/idempotency)."""
        ...

    async def release_lock(self, name: str) -> None:
        """Drop a lock early (after a failed publish, for example)."""
        ...

    async def add_counters(self, deltas: Mapping[CounterKey, float], batch_id: str = "") -> None:
        """Add non-negative increments to the cluster-wide counter totals, all or nothing.

        A non-empty ``batch_id`` makes the call idempotent: a retried batch is applied once.
        """
        ...

    async def counters(self) -> dict[CounterKey, float]:
        """Cluster-wide counter totals (every replica's flushed increments plus store-side counts)."""
        ...

    async def series_total(self) -> int:
        """Series held by all snapshots together (the number ``store.max_series_budget`` limits)."""
        ...

    async def gc(self, now: float) -> int:
        """Forget expired snapshots (and whatever else expired); returns how many records went away."""
        ...

    async def ping(self) -> None:
        """Raise `StoreUnavailable` when the backend cannot serve requests."""
        ...

    async def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...
