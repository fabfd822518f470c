"""In-process store (every port of `base.Store`): the single-replica backend and the contract reference.

It keeps everything in dicts of one process and must not grow features the Redis adapter cannot offer
(every behaviour here is checked by the per-port contract suites in ``tests/contract``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from github_stats_exporter.metrics import STORE_SERIES_REFUSED
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.store.base import (
    CounterKey,
    Fence,
    FencedOut,
    FragmentEncoder,
    SeriesBudgetExceeded,
    StoredFragments,
    StoreUnavailable,
    UnitRenewal,
    check_unit_epoch,
)
from github_stats_exporter.store.fragments import encode_fragments
from github_stats_exporter.store.ratelimit_share import BudgetShare, merge_shares

_BATCH_ID_TTL_SECONDS = 3600.0
"""How long an applied counter batch id is remembered (a retry comes within seconds)."""


def _check_ttl(ttl_seconds: float) -> None:
    if not ttl_seconds > 0:
        msg = f"ttl_seconds must be positive, got {ttl_seconds!r}"
        raise ValueError(msg)


class MemorySnapshotStore:
    """Snapshots, checkpoints, locks and counters in memory, with TTLs read from an injectable clock.

    Versions come from one store-wide counter, so a key that is deleted and written again still gets a
    version above every earlier one (a reader comparing versions never mistakes the new data for the old).
    With ``retention_seconds`` a snapshot expires that long after its last write, as in Redis. With
    ``fragments`` every put also keeps the encoder's bytes for the snapshot (`get_fragments`).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        max_series_budget: int = 0,
        retention_seconds: float | None = None,
        fragments: FragmentEncoder | None = None,
    ) -> None:
        if max_series_budget < 0:
            msg = f"max_series_budget must be >= 0 (0 disables it), got {max_series_budget}"
            raise ValueError(msg)
        if retention_seconds is not None:
            _check_ttl(retention_seconds)
        self._clock = clock
        self._budget = max_series_budget
        self._retention = retention_seconds
        self._encoder = fragments
        self._snapshots: dict[SnapshotKey, Snapshot] = {}
        self._fragments: dict[SnapshotKey, bytes] = {}
        self._expires: dict[SnapshotKey, float] = {}
        self._counters: dict[CounterKey, float] = {}
        self._batches: dict[str, float] = {}
        self._series = 0
        self._generation = 0
        self._checkpoints: dict[str, tuple[bytes, float | None]] = {}
        self._locks: dict[str, float] = {}
        self._budgets: dict[str, tuple[int, float]] = {}
        self._rate_limits: dict[str, tuple[BudgetShare, float]] = {}
        self._responses: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._members: dict[str, float] = {}
        self._units: dict[str, tuple[str, float]] = {}
        self._epochs: dict[str, int] = {}
        self._closed = False

    @property
    def series_count(self) -> int:
        """Series held by all snapshots together (what the budget limits)."""
        return self._series

    async def put(self, snapshot: Snapshot) -> int:
        self._check_open()
        # Encoded before anything changes: the rest of put runs without a pause, so it stays atomic.
        fragments = await encode_fragments(self._encoder, snapshot.samples)
        self._check_open()
        old = self._snapshots.get(snapshot.key)
        old_len = len(old.samples) if old is not None else 0
        new_len = len(snapshot.samples)
        added = new_len - old_len
        if self._budget and added > 0 and self._series + added > self._budget:
            refused = (STORE_SERIES_REFUSED.name, (("kind", snapshot.key.kind),))
            self._counters[refused] = self._counters.get(refused, 0.0) + added
            raise SeriesBudgetExceeded(snapshot.key, added, self._budget)
        self._generation += 1
        stored = dataclasses.replace(snapshot, version=self._generation, meta=dict(snapshot.meta))
        self._snapshots[snapshot.key] = stored
        if fragments is None:
            self._fragments.pop(snapshot.key, None)
        else:
            self._fragments[snapshot.key] = fragments
        if self._retention is not None:
            self._expires[snapshot.key] = self._clock() + self._retention
        self._series += added
        return stored.version

    async def delete(self, key: SnapshotKey) -> None:
        self._check_open()
        old = self._snapshots.pop(key, None)
        self._fragments.pop(key, None)
        self._expires.pop(key, None)
        if old is not None:
            self._series -= len(old.samples)
            self._generation += 1

    async def generation(self) -> int:
        self._check_open()
        return self._generation

    async def versions(self) -> dict[SnapshotKey, int]:
        self._check_open()
        return {key: snap.version for key, snap in self._snapshots.items()}

    async def keys(self, prefix: SnapshotKey) -> list[SnapshotKey]:
        self._check_open()
        width = len(prefix.parts)
        found = [k for k in self._snapshots if k.kind == prefix.kind and k.parts[:width] == prefix.parts]
        return sorted(found, key=lambda k: k.parts)

    async def get_many(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        self._check_open()
        found: dict[SnapshotKey, Snapshot] = {}
        now = self._clock()
        for key in keys:
            snap = self._snapshots.get(key)
            if snap is not None and self._expires.get(key, now + 1) > now:
                found[key] = snap
        return found

    async def get_fragments(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, StoredFragments]:
        self._check_open()
        found: dict[SnapshotKey, StoredFragments] = {}
        now = self._clock()
        for key in keys:
            data = self._fragments.get(key)
            if data is not None and self._expires.get(key, now + 1) > now:
                found[key] = StoredFragments(self._snapshots[key].version, data)
        return found

    async def get_checkpoint(self, name: str) -> bytes | None:
        self._check_open()
        return self._checkpoint(name)

    async def get_checkpoints(self, names: Sequence[str]) -> dict[str, bytes]:
        self._check_open()
        return {name: value for name in names if (value := self._checkpoint(name)) is not None}

    def _checkpoint(self, name: str) -> bytes | None:
        entry = self._checkpoints.get(name)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= self._clock():
            del self._checkpoints[name]
            return None
        return value

    async def set_checkpoint(self, name: str, value: bytes, ttl_seconds: float | None = None) -> None:
        self._check_open()
        expires_at = None
        if ttl_seconds is not None:
            _check_ttl(ttl_seconds)
            expires_at = self._clock() + ttl_seconds
        self._checkpoints[name] = (bytes(value), expires_at)

    async def delete_checkpoint(self, name: str) -> None:
        self._check_open()
        self._checkpoints.pop(name, None)

    async def checkpoint_names(self, prefix: str) -> list[str]:
        self._check_open()
        now = self._clock()
        return sorted(
            name
            for name, (_, expires_at) in self._checkpoints.items()
            if name.startswith(prefix) and (expires_at is None or expires_at > now)
        )

    async def take_budget(self, name: str, wanted: int, cap: int, ttl_seconds: float) -> int:
        # No await between the read and the write: a grant is atomic on the event loop.
        self._check_open()
        _check_ttl(ttl_seconds)
        now = self._clock()
        used = self._budget_used(name, now)
        granted = max(0, min(wanted, cap - used))
        if granted:
            self._budgets[name] = (used + granted, now + ttl_seconds)
        return granted

    async def budget_used(self, name: str) -> int:
        self._check_open()
        return self._budget_used(name, self._clock())

    def _budget_used(self, name: str, now: float) -> int:
        used, expires_at = self._budgets.get(name, (0, now))
        return used if expires_at > now else 0

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

    async def share_rate_limit(self, scope: str, mine: BudgetShare, ttl_seconds: float) -> BudgetShare:
        self._check_open()
        _check_ttl(ttl_seconds)
        now = self._clock()
        stored, expires_at = self._rate_limits.get(scope, (BudgetShare(), now))
        merged = merge_shares(stored if expires_at > now else BudgetShare(), mine)
        self._rate_limits[scope] = (merged, now + ttl_seconds)
        return merged

    async def get_response(self, scope: str, key: str, ttl_seconds: float) -> bytes | None:
        self._check_open()
        _check_ttl(ttl_seconds)
        now = self._clock()
        found = self._responses.get((scope, key))
        if found is None or found[1] <= now:
            return None
        self._responses[scope, key] = (found[0], now + ttl_seconds)
        return found[0]

    async def put_responses(self, scope: str, values: Mapping[str, bytes], ttl_seconds: float) -> None:
        self._check_open()
        _check_ttl(ttl_seconds)
        expires_at = self._clock() + ttl_seconds
        for key, value in values.items():
            self._responses[scope, key] = (bytes(value), expires_at)

    async def heartbeat(self, member: str, ttl_seconds: float) -> list[str]:
        self._check_open()
        _check_ttl(ttl_seconds)
        now = self._clock()
        if member:
            self._members[member] = now + ttl_seconds
        self._members = {m: until for m, until in self._members.items() if until > now}
        return sorted(self._members)

    async def leave(self, member: str) -> None:
        self._check_open()
        self._members.pop(member, None)

    async def acquire_unit(self, unit: str, holder: str, ttl_seconds: float) -> int:
        self._check_open()
        _check_ttl(ttl_seconds)
        now = self._clock()
        current = self._units.get(unit)
        if current is not None and current[0] != holder and current[1] > now:
            return 0
        self._units[unit] = (holder, now + ttl_seconds)
        self._epochs[unit] = self._epochs.get(unit, 0) + 1
        return self._epochs[unit]

    async def renew_unit(self, unit: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        return self._renew(unit, holder, epoch, ttl_seconds)

    def _renew(self, unit: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        self._check_open()
        _check_ttl(ttl_seconds)
        now = self._clock()
        current = self._units.get(unit)
        if current is None or current[0] != holder or current[1] <= now or self._epochs.get(unit) != epoch:
            return False
        self._units[unit] = (holder, now + ttl_seconds)
        return True

    def _holder(self, unit: str) -> tuple[str, int]:
        now = self._clock()
        holder, until = self._units.get(unit, ("", now))
        return (holder if until > now else "", self._epochs.get(unit, 0))

    async def release_unit(self, unit: str, holder: str) -> None:
        self._check_open()
        current = self._units.get(unit)
        if current is not None and current[0] == holder:
            del self._units[unit]

    async def acquire_units(self, units: Sequence[str], holder: str, ttl_seconds: float) -> dict[str, int]:
        return {unit: await self.acquire_unit(unit, holder, ttl_seconds) for unit in dict.fromkeys(units)}

    async def renew_units(
        self, terms: Mapping[str, int], holder: str, ttl_seconds: float
    ) -> dict[str, UnitRenewal]:
        out: dict[str, UnitRenewal] = {}
        for unit, epoch in terms.items():
            # One method, no await in between: the batch is as atomic as Redis's one script.
            renewed = self._renew(unit, holder, epoch, ttl_seconds)
            found, current = self._holder(unit)
            out[unit] = UnitRenewal(renewed, found, current)
        return out

    async def release_units(self, units: Iterable[str], holder: str) -> None:
        for unit in dict.fromkeys(units):
            await self.release_unit(unit, holder)

    async def unit_epochs(self, units: Iterable[str]) -> dict[str, int]:
        self._check_open()
        return {unit: self._epochs.get(unit, 0) for unit in units}

    async def raise_unit_epoch(self, unit: str, epoch: int) -> int:
        self._check_open()
        check_unit_epoch(epoch)
        self._epochs[unit] = max(self._epochs.get(unit, 0), epoch)
        return self._epochs[unit]

    async def raise_unit_epochs(self, epochs: Mapping[str, int]) -> dict[str, int]:
        for epoch in epochs.values():
            check_unit_epoch(epoch)
        # One unit at a time through `raise_unit_epoch`, so a subclass that changes it changes both.
        return {unit: await self.raise_unit_epoch(unit, epoch) for unit, epoch in epochs.items()}

    async def unit_holders(self, units: Iterable[str]) -> dict[str, tuple[str, int]]:
        self._check_open()
        return {unit: self._holder(unit) for unit in units}

    async def put_fenced(self, snapshot: Snapshot, fence: Fence) -> int:
        self._check_fence(fence)
        return await self.put(snapshot)

    async def set_checkpoint_fenced(
        self, name: str, value: bytes, ttl_seconds: float | None, fence: Fence
    ) -> None:
        self._check_fence(fence)
        await self.set_checkpoint(name, value, ttl_seconds)

    def _check_fence(self, fence: Fence) -> None:
        self._check_open()
        current = self._epochs.get(fence.unit, 0)
        if current != fence.epoch:
            raise FencedOut(fence.unit, fence.epoch, current)

    async def add_counters(self, deltas: Mapping[CounterKey, float], batch_id: str = "") -> None:
        self._check_open()
        for key, amount in deltas.items():
            if not amount >= 0:
                msg = f"counter increments must be >= 0, got {amount!r} for {key[0]}"
                raise ValueError(msg)
        now = self._clock()
        if batch_id:
            if self._batches.get(batch_id, now) > now:
                return
            self._batches[batch_id] = now + _BATCH_ID_TTL_SECONDS
        for key, amount in deltas.items():
            self._counters[key] = self._counters.get(key, 0.0) + amount

    async def counters(self) -> dict[CounterKey, float]:
        self._check_open()
        return dict(self._counters)

    async def series_total(self) -> int:
        self._check_open()
        return self._series

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True

    async def __aenter__(self) -> MemorySnapshotStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def gc(self, now: float) -> int:
        """Drop expired snapshots, checkpoints, locks, batch ids and responses; returns how many of the first three went away."""
        self._check_open()
        expired_snapshots = [key for key, expires_at in self._expires.items() if expires_at <= now]
        for key in expired_snapshots:
            del self._expires[key]
            self._fragments.pop(key, None)
            self._series -= len(self._snapshots.pop(key).samples)
        if expired_snapshots:
            self._generation += 1
        for batch_id in [b for b, expires_at in self._batches.items() if expires_at <= now]:
            del self._batches[batch_id]
        expired_checkpoints = [
            name
            for name, (_, expires_at) in self._checkpoints.items()
            if expires_at is not None and expires_at <= now
        ]
        expired_locks = [name for name, expires_at in self._locks.items() if expires_at <= now]
        for name in [n for n, (_, expires_at) in self._budgets.items() if expires_at <= now]:
            del self._budgets[name]
        for found in [k for k, (_, expires_at) in self._responses.items() if expires_at <= now]:
            del self._responses[found]
        for name in expired_checkpoints:
            del self._checkpoints[name]
        for name in expired_locks:
            del self._locks[name]
        return len(expired_snapshots) + len(expired_checkpoints) + len(expired_locks)

    def _check_open(self) -> None:
        # A closed Redis client fails the same way, so callers exercise their StoreUnavailable path.
        if self._closed:
            msg = "memory store is closed"
            raise StoreUnavailable(msg)
