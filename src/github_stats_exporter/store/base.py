"""The store ports: snapshots, checkpoints, locks and counters, plus the errors every adapter raises.

This module holds Protocols and errors only. Adapters (`memory.py`, `redis.py`) implement them, one
class may implement several ports; nothing here may import an adapter or a third-party client.
A caller names the port(s) it uses, so a reader sees at a glance which state it touches:

* `SnapshotStore`   versioned snapshots behind `/metrics` (and the series budget that limits them)
* `CheckpointStore` small named byte records with a TTL: ledgers, collection state, dedup markers
* `LockStore`       short-lived exclusive locks that expire by themselves
* `CounterStore`    cluster-wide totals of the replicas' counter increments
* `RateLimitStore`  the GitHub rate-limit budget every replica of an installation shares
* `UnitLeaseStore`  live members and one lease per work unit (sharded collection on the store's Redis)
* `UnitFenceStore`  every work unit's fencing epoch and the writes checked against it
* `StoreMaintenance` what only the composition root calls: `gc`, `ping`, `close`
* `CollectionStore` snapshots and checkpoints: what a collector needs
* `Store`           all of the above, what an adapter offers and what the composition root holds

Design for a remote store (Redis): every method is one or a few pipelined round trips, writes are
atomic, and `SnapshotStore.generation()` lets a reader learn "nothing changed" with one cheap call.
Checkpoint values are opaque bytes; `codec.py` is the one serializer that produces and reads them.
Snapshot fragments (the snapshot's pre-encoded exposition lines) are opaque bytes too: an adapter built
with a `FragmentEncoder` writes them together with the snapshot, so readers concatenate instead of
decoding and encoding samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from github_stats_exporter.errors import ExporterError
from github_stats_exporter.model import Labels, Sample, Snapshot, SnapshotKey
from github_stats_exporter.store.ratelimit_share import BudgetShare

CounterKey = tuple[str, Labels]
"""A counter series in the cluster-wide totals: family name and labels (the sample's identity)."""

FragmentEncoder = Callable[[Sequence[Sample]], bytes]
"""Encodes a snapshot's samples into the bytes stored next to it (the composition root passes
`exposition.encoder.pack_snapshot`); the store never looks inside them."""


@dataclass(frozen=True, slots=True)
class StoredFragments:
    """The fragments written together with the snapshot of version ``version``."""

    version: int
    data: bytes


class StoreError(ExporterError):
    """Base class of store failures.

    * StoreError
      + StoreUnavailable   the backend cannot be reached (retry later, never fall back silently)
      + SeriesBudgetExceeded  a write would push the series count over ``store.max_series_budget``
    """


class StoreUnavailable(StoreError):
    """The backend did not answer; callers keep what they have and retry."""


class FencedOut(StoreError):
    """A fenced write from a holder whose term of the unit is over; nothing was written."""

    def __init__(self, unit: str, epoch: int, current: int) -> None:
        self.unit = unit
        self.epoch = epoch
        self.current = current
        super().__init__(f"write for unit {unit} refused: term {epoch} is over (current term {current})")


@dataclass(frozen=True, slots=True)
class Fence:
    """The unit a write belongs to and the term (epoch) its writer holds it in."""

    unit: str
    epoch: int


def check_unit_epoch(epoch: int) -> None:
    """Refuse an epoch that is not a positive integer (every store, before it raises a fence)."""
    if epoch < 1:
        msg = f"a unit epoch is a positive integer, got {epoch!r}"
        raise ValueError(msg)


class SeriesBudgetExceeded(StoreError):
    """A snapshot would add series beyond the configured budget; the old snapshot stays."""

    def __init__(self, key: SnapshotKey, new_series: int, budget: int) -> None:
        self.key = key
        self.new_series = new_series
        self.budget = budget
        super().__init__(f"snapshot {key} would add {new_series} series over the budget of {budget}")


@runtime_checkable
class SnapshotStore(Protocol):
    """Versioned snapshots: the shared state behind `/metrics`.

    `put` replaces the whole previous snapshot of the same key atomically and returns the new version
    (strictly greater than any earlier version of that key). `generation` increases on every put or
    delete anywhere, so an unchanged generation means nothing to re-read.

    Retention: a snapshot not re-written within the store's retention expires; `get_many` stops
    returning it at once, `versions`, `keys` and the series count forget it at the next `gc`.
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

    async def keys(self, prefix: SnapshotKey) -> list[SnapshotKey]:
        """Stored keys of ``prefix.kind`` whose parts start with ``prefix.parts``, sorted.

        A collector lists its own snapshots with it instead of reading the whole index.
        """
        ...

    async def get_many(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        """Fetch snapshots; keys that vanished meanwhile are simply absent from the result."""
        ...

    async def series_total(self) -> int:
        """Series held by all snapshots together (the number ``store.max_series_budget`` limits)."""
        ...

    async def get_fragments(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, StoredFragments]:
        """The fragments of the snapshots that have them, each with the version they belong to.

        A key is absent when its snapshot is gone or was written without fragments (a store without a
        `FragmentEncoder`, or an older version of the exporter); read those with `get_many`.
        """
        ...


@runtime_checkable
class CheckpointStore(Protocol):
    """Small named records (bytes) that outlive a process: ledgers, collection state, markers.

    A record with ``ttl_seconds`` disappears that long after its last write; a deleted or expired
    record reads as None and is no longer listed.
    """

    async def get_checkpoint(self, name: str) -> bytes | None:
        """The record stored under ``name``, or None."""
        ...

    async def get_checkpoints(self, names: Sequence[str]) -> dict[str, bytes]:
        """The records stored under ``names`` (absent ones left out), read in a few round trips.

        For a collector that reads one record per repository every cycle: one call per record would
        cost a round trip each (docs/benchmarks.md, "Steady activity cycle in a serve process").
        """
        ...

    async def set_checkpoint(self, name: str, value: bytes, ttl_seconds: float | None = None) -> None:
        """Write a record, replacing the old one; ``ttl_seconds`` bounds its lifetime."""
        ...

    async def delete_checkpoint(self, name: str) -> None:
        """Remove a record (a no-op when there is none)."""
        ...

    async def checkpoint_names(self, prefix: str) -> list[str]:
        """Names of the live records that start with ``prefix``, sorted."""
        ...


@runtime_checkable
class BudgetStore(Protocol):
    """Named budgets that every replica draws from, granted atomically (the LOC hourly detail budget).

    A budget is a count of units booked under ``name``; it expires ``ttl_seconds`` after its last grant.
    """

    async def take_budget(self, name: str, wanted: int, cap: int, ttl_seconds: float) -> int:
        """Book up to ``wanted`` units while the total booked stays within ``cap``; returns how many.

        Reading what is booked and booking are one atomic step, so concurrent callers (any replica)
        never book more than ``cap`` together.
        """
        ...

    async def budget_used(self, name: str) -> int:
        """The units booked under ``name`` (0 when none or expired)."""
        ...


@runtime_checkable
class LockStore(Protocol):
    """Exclusive locks that expire by themselves (dedup, idempotency, one sealer per epoch)."""

    async def try_lock(self, name: str, ttl_seconds: float) -> bool:
        """Take a lock for ``ttl_seconds``; False when someone else holds it."""
        ...

    async def release_lock(self, name: str) -> None:
        """Drop a lock early (after a failed run, for example)."""
        ...


@runtime_checkable
class CounterStore(Protocol):
    """Cluster-wide counter totals, so every replica serves the same monotonic ``_total`` values.

    Refused budget writes (`SeriesBudgetExceeded`) are counted here too, by the snapshot side.
    """

    async def add_counters(self, deltas: Mapping[CounterKey, float], batch_id: str = "") -> None:
        """Add non-negative increments to the totals, all or nothing.

        A non-empty ``batch_id`` makes the call idempotent: a retried batch is applied once.
        """
        ...

    async def counters(self) -> dict[CounterKey, float]:
        """Every replica's flushed increments plus store-side counts."""
        ...


@runtime_checkable
class RateLimitStore(Protocol):
    """The rate-limit budget of one installation, shared by every replica that calls GitHub for it."""

    async def share_rate_limit(self, scope: str, mine: BudgetShare, ttl_seconds: float) -> BudgetShare:
        """Merge ``mine`` into the record of ``scope`` (`ratelimit_share.merge_shares`); returns the result.

        The record expires ``ttl_seconds`` after its last write (a budget nobody reports is unknown).
        """
        ...


@runtime_checkable
class ResponseStore(Protocol):
    """GitHub answers kept for every replica: opaque values under a scope and a key, each with a TTL.

    The client keeps each conditional answer's ETag and body here as well as in its own cache, so a
    replica that takes over a unit, or lists an org another replica listed, asks with ``If-None-Match``
    too (docs/scaling.md, "Shared ETags"). Values are a cache: a lost one costs one full request.
    """

    async def get_response(self, scope: str, key: str, ttl_seconds: float) -> bytes | None:
        """The value under (``scope``, ``key``), its time to live reset to ``ttl_seconds``; None if none."""
        ...

    async def put_responses(self, scope: str, values: Mapping[str, bytes], ttl_seconds: float) -> None:
        """Store every (key, value) of ``values`` under ``scope`` for ``ttl_seconds``, replacing what was there."""
        ...


@dataclass(frozen=True, slots=True)
class UnitRenewal:
    """What renewing one unit found (`UnitLeaseStore.renew_units`)."""

    renewed: bool
    """True when the lease was the renewer's, in its term, and now lives another TTL."""
    holder: str
    """The unit's holder while its lease lives ("" when it expired or was released)."""
    epoch: int
    """The unit's current epoch (the renewer's when renewed, a later term's when taken over)."""


@runtime_checkable
class UnitLeaseStore(Protocol):
    """Who is live and who holds which work unit in sharded collection (docs/scaling.md).

    Two implementations: the store's Redis (its own unit leases) and Kubernetes Leases
    (`leader.kubernetes_units.KubernetesUnitLeases`); `leader.base.UnitLeases` names this port for the
    leader layer. Whichever holds the leases, an acquisition returns an epoch that the store's fences
    (`UnitFenceStore`) already accept and every later term a higher one: a unit's epoch only grows.
    `leader.shards.ShardCoordinator` calls them in rounds, each step one call whatever the number of units:
    one `heartbeat`, then `release_units`, `renew_units` and `acquire_units` (each only when it has units),
    then `unit_holders`. Expected failures raise `leader.base.LeaseError` or `StoreError`.
    """

    async def heartbeat(self, member: str, ttl_seconds: float) -> list[str]:
        """Mark ``member`` live for ``ttl_seconds`` (empty ``member``: only look); returns the live members, sorted."""
        ...

    async def leave(self, member: str) -> None:
        """Remove ``member`` from the live members at once (a clean shutdown)."""
        ...

    async def acquire_unit(self, unit: str, holder: str, ttl_seconds: float) -> int:
        """Start a new term of ``unit`` for ``holder``: its epoch (> 0), or 0 when it cannot be had now."""
        ...

    async def renew_unit(self, unit: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        """Extend ``holder``'s lease of ``unit`` in term ``epoch``; False when that term is over."""
        ...

    async def release_unit(self, unit: str, holder: str) -> None:
        """Drop ``holder``'s lease of ``unit`` so the next owner need not wait for it to expire."""
        ...

    async def acquire_units(self, units: Sequence[str], holder: str, ttl_seconds: float) -> dict[str, int]:
        """`acquire_unit` of each of ``units`` in one round trip: unit -> its new epoch, or 0."""
        ...

    async def renew_units(
        self, terms: Mapping[str, int], holder: str, ttl_seconds: float
    ) -> dict[str, UnitRenewal]:
        """`renew_unit` of each unit of ``terms`` (unit -> ``holder``'s epoch) in one round trip.

        Each unit is checked and extended on its own, exactly as `renew_unit` would: some may be renewed
        while others are lost; the outcome says which, and who holds a lost one now.
        """
        ...

    async def release_units(self, units: Iterable[str], holder: str) -> None:
        """`release_unit` of each of ``units`` in one round trip."""
        ...

    async def unit_holders(self, units: Iterable[str]) -> dict[str, tuple[str, int]]:
        """Each unit's holder while its lease lives ("" otherwise) and its current epoch."""
        ...


@runtime_checkable
class UnitFenceStore(Protocol):
    """The fencing epoch of every work unit and the writes checked against it, whoever leases the units.

    A fenced write succeeds only while the unit's epoch still equals the writer's, so a replica that
    lost a unit (paused, partitioned, expired) cannot overwrite what the new holder wrote. The store's
    own unit leases (`UnitLeaseStore`) move the epoch on every acquisition; leases kept elsewhere
    (Kubernetes) raise it to their term with `raise_unit_epoch` before the term's first write.
    """

    async def unit_epochs(self, units: Iterable[str]) -> dict[str, int]:
        """The current epoch of each unit (0 for one never acquired)."""
        ...

    async def raise_unit_epoch(self, unit: str, epoch: int) -> int:
        """Set the epoch of ``unit`` to ``epoch`` unless it is already higher, in one atomic step.

        Returns the epoch afterwards: ``epoch`` when the term may write, a higher one when a later term
        exists already.
        """
        ...

    async def raise_unit_epochs(self, epochs: Mapping[str, int]) -> dict[str, int]:
        """`raise_unit_epoch` of every (unit, epoch) in one call (one round trip to Redis).

        Each unit is raised on its own (one that is already higher does not stop the others); returns
        every unit's epoch afterwards. A non-positive epoch is refused before anything is raised.
        """
        ...

    async def put_fenced(self, snapshot: Snapshot, fence: Fence) -> int:
        """`SnapshotStore.put` that first checks ``fence``; raises `FencedOut` when its term is over."""
        ...

    async def set_checkpoint_fenced(
        self, name: str, value: bytes, ttl_seconds: float | None, fence: Fence
    ) -> None:
        """`CheckpointStore.set_checkpoint` that first checks ``fence``; raises `FencedOut` when its term is over."""
        ...


@runtime_checkable
class StoreMaintenance(Protocol):
    """Housekeeping and lifecycle of a whole store; only the composition root calls these."""

    async def gc(self, now: float) -> int:
        """Forget expired snapshots and index entries of expired records; returns how many went away."""
        ...

    async def ping(self) -> None:
        """Raise `StoreUnavailable` when the backend cannot serve requests."""
        ...

    async def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...


@runtime_checkable
class Store(
    SnapshotStore,
    CheckpointStore,
    BudgetStore,
    LockStore,
    CounterStore,
    RateLimitStore,
    ResponseStore,
    UnitLeaseStore,
    UnitFenceStore,
    StoreMaintenance,
    Protocol,
):
    """Every port at once: what an adapter offers and what the composition root passes around."""


@runtime_checkable
class CollectionStore(SnapshotStore, CheckpointStore, BudgetStore, Protocol):
    """What a collector needs: its snapshots, the checkpoints that make collection incremental, and
    the budgets it shares with other replicas."""
