"""A `Store` that puts a span around every write of the store it wraps (only built when tracing is on).

Snapshot puts and deletes and checkpoint writes and deletes become ``store.write`` spans, children of
the collection cycle or backfill job that writes (writes outside one, such as the counter flushes,
are not traced). Reads, locks, counters and maintenance pass straight through. Attributes name the
operation, the snapshot kind or the checkpoint's first name segment, and the series count; never
keys' values or payloads. It must not change what the wrapped store does or raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.base import CounterKey, Fence, Store, StoredFragments, UnitRenewal
from github_stats_exporter.store.ratelimit_share import BudgetShare
from github_stats_exporter.tracing import Attributes, Tracing

_FIRST_SEGMENT = re.compile(r"[^:/]*")


def _family(name: str) -> str:
    """``activity`` of ``activity/ledger/acme/api``: what kind of record, not whose."""
    match = _FIRST_SEGMENT.match(name)
    return match.group(0) if match else ""


class TracedStore:
    """Forwards every port method to ``inner``; writes run inside a ``store.write`` span."""

    def __init__(self, inner: Store, tracing: Tracing) -> None:
        self._inner = inner
        self._tracing = tracing

    # --- traced writes ------------------------------------------------------------------------------
    async def put(self, snapshot: Snapshot) -> int:
        attributes: Attributes = {
            "store.operation": "put",
            "store.kind": snapshot.key.kind,
            "store.series": len(snapshot.samples),
        }
        with self._tracing.span("store.write", attributes, child_only=True):
            return await self._inner.put(snapshot)

    async def delete(self, key: SnapshotKey) -> None:
        attributes: Attributes = {"store.operation": "delete", "store.kind": key.kind}
        with self._tracing.span("store.write", attributes, child_only=True):
            await self._inner.delete(key)

    async def set_checkpoint(self, name: str, value: bytes, ttl_seconds: float | None = None) -> None:
        attributes: Attributes = {
            "store.operation": "set_checkpoint",
            "store.kind": _family(name),
            "store.bytes": len(value),
        }
        with self._tracing.span("store.write", attributes, child_only=True):
            await self._inner.set_checkpoint(name, value, ttl_seconds)

    async def delete_checkpoint(self, name: str) -> None:
        attributes: Attributes = {"store.operation": "delete_checkpoint", "store.kind": _family(name)}
        with self._tracing.span("store.write", attributes, child_only=True):
            await self._inner.delete_checkpoint(name)

    # --- pass-through ------------------------------------------------------------------------------
    async def generation(self) -> int:
        return await self._inner.generation()

    async def versions(self) -> dict[SnapshotKey, int]:
        return await self._inner.versions()

    async def keys(self, prefix: SnapshotKey) -> list[SnapshotKey]:
        return await self._inner.keys(prefix)

    async def get_many(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        return await self._inner.get_many(keys)

    async def series_total(self) -> int:
        return await self._inner.series_total()

    async def get_fragments(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, StoredFragments]:
        return await self._inner.get_fragments(keys)

    async def get_checkpoint(self, name: str) -> bytes | None:
        return await self._inner.get_checkpoint(name)

    async def get_checkpoints(self, names: Sequence[str]) -> dict[str, bytes]:
        return await self._inner.get_checkpoints(names)

    async def checkpoint_names(self, prefix: str) -> list[str]:
        return await self._inner.checkpoint_names(prefix)

    async def take_budget(self, name: str, wanted: int, cap: int, ttl_seconds: float) -> int:
        attributes: Attributes = {"store.operation": "take_budget", "store.kind": _family(name)}
        with self._tracing.span("store.write", attributes, child_only=True):
            return await self._inner.take_budget(name, wanted, cap, ttl_seconds)

    async def budget_used(self, name: str) -> int:
        return await self._inner.budget_used(name)

    async def try_lock(self, name: str, ttl_seconds: float) -> bool:
        return await self._inner.try_lock(name, ttl_seconds)

    async def release_lock(self, name: str) -> None:
        await self._inner.release_lock(name)

    async def add_counters(self, deltas: Mapping[CounterKey, float], batch_id: str = "") -> None:
        await self._inner.add_counters(deltas, batch_id)

    async def counters(self) -> dict[CounterKey, float]:
        return await self._inner.counters()

    async def get_response(self, scope: str, key: str, ttl_seconds: float) -> bytes | None:
        return await self._inner.get_response(scope, key, ttl_seconds)

    async def put_responses(self, scope: str, values: Mapping[str, bytes], ttl_seconds: float) -> None:
        await self._inner.put_responses(scope, values, ttl_seconds)

    async def share_rate_limit(self, scope: str, mine: BudgetShare, ttl_seconds: float) -> BudgetShare:
        return await self._inner.share_rate_limit(scope, mine, ttl_seconds)

    async def put_fenced(self, snapshot: Snapshot, fence: Fence) -> int:
        attributes: Attributes = {
            "store.operation": "put",
            "store.kind": snapshot.key.kind,
            "store.series": len(snapshot.samples),
        }
        with self._tracing.span("store.write", attributes, child_only=True):
            return await self._inner.put_fenced(snapshot, fence)

    async def set_checkpoint_fenced(
        self, name: str, value: bytes, ttl_seconds: float | None, fence: Fence
    ) -> None:
        attributes: Attributes = {
            "store.operation": "set_checkpoint",
            "store.kind": _family(name),
            "store.bytes": len(value),
        }
        with self._tracing.span("store.write", attributes, child_only=True):
            await self._inner.set_checkpoint_fenced(name, value, ttl_seconds, fence)

    async def heartbeat(self, member: str, ttl_seconds: float) -> list[str]:
        return await self._inner.heartbeat(member, ttl_seconds)

    async def leave(self, member: str) -> None:
        await self._inner.leave(member)

    async def acquire_unit(self, unit: str, holder: str, ttl_seconds: float) -> int:
        return await self._inner.acquire_unit(unit, holder, ttl_seconds)

    async def renew_unit(self, unit: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        return await self._inner.renew_unit(unit, holder, epoch, ttl_seconds)

    async def release_unit(self, unit: str, holder: str) -> None:
        await self._inner.release_unit(unit, holder)

    async def acquire_units(self, units: Sequence[str], holder: str, ttl_seconds: float) -> dict[str, int]:
        return await self._inner.acquire_units(units, holder, ttl_seconds)

    async def renew_units(
        self, terms: Mapping[str, int], holder: str, ttl_seconds: float
    ) -> dict[str, UnitRenewal]:
        return await self._inner.renew_units(terms, holder, ttl_seconds)

    async def release_units(self, units: Iterable[str], holder: str) -> None:
        await self._inner.release_units(units, holder)

    async def unit_epochs(self, units: Iterable[str]) -> dict[str, int]:
        return await self._inner.unit_epochs(units)

    async def raise_unit_epoch(self, unit: str, epoch: int) -> int:
        return await self._inner.raise_unit_epoch(unit, epoch)

    async def raise_unit_epochs(self, epochs: Mapping[str, int]) -> dict[str, int]:
        return await self._inner.raise_unit_epochs(epochs)

    async def unit_holders(self, units: Iterable[str]) -> dict[str, tuple[str, int]]:
        return await self._inner.unit_holders(units)

    async def gc(self, now: float) -> int:
        return await self._inner.gc(now)

    async def ping(self) -> None:
        await self._inner.ping()

    async def close(self) -> None:
        await self._inner.close()
