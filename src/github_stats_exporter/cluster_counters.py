"""Cluster-wide self-metric counters, shared through the store so every replica serves the same value.

Each process counts in `SelfMetrics`. `ClusterCounters.sync` adds this process's new increments to the
store's shared totals as one batch whose id makes a retried flush count once, then reads back what to
serve:

- One replica (no ``epoch_seconds``): the latest totals, plus this process's increments that are not
  flushed yet, so a scrape sees its own process's requests at once.
- Several replicas (``epoch_seconds`` set): the totals *sealed* at an epoch boundary. The first replica
  to sync after a boundary takes a store lock and copies the totals into a sealed record; every replica
  fetches that record on its next syncs and all of them switch to it at the same wall-clock moment, two
  and a half epochs after the boundary. Whichever replica Prometheus reaches, the value is the same and
  never goes down (up to clock skew between replicas at the switch moment); the price is that counters
  trail by 2.5 to 3.5 epochs (docs/metrics.md, "Cluster-wide counters").

Gauges never go through here: per-process gauges stay in their process, and the leader's collector
gauges go through `cluster_state.ClusterState`. This module does not schedule anything and renders
nothing; the page refresh calls `sync` and the page cache renders `served_totals`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from github_stats_exporter.metrics import STORE_FLUSH_FAILING, STORE_FLUSH_FAILURES
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store import codec
from github_stats_exporter.store.base import CheckpointStore, CounterKey, CounterStore, LockStore, StoreError

SEALED_PREFIX = "counters/sealed/"
"""Checkpoint name prefix of a sealed epoch's totals; the epoch number follows."""
SEAL_LOCK_PREFIX = "counters/seal-lock/"
"""Lock name prefix: the replica holding ``SEAL_LOCK_PREFIX + epoch`` writes that epoch's record."""
SEALED_EPOCHS_KEPT = 6
"""Sealed epochs held in memory and fetched on sync: more than the 2.5-epoch serving delay needs, so a
replica that missed a few syncs still finds the epoch every other replica serves."""
SEAL_DELAY_EPOCHS = 2.5
"""Serve epoch e from e + 2.5 epochs on: sealed within one sync after its boundary, fetched by every
replica within the next sync, plus half an epoch of margin for slow syncs and clock skew."""


class CountersStore(CounterStore, CheckpointStore, LockStore, Protocol):
    """What the counters use: the shared totals, and a lock and a checkpoint per sealed epoch."""


class ClusterCounters:
    """Flushes this process's counter increments to the store and chooses the totals every replica serves."""

    def __init__(
        self,
        store: CountersStore,
        metrics: SelfMetrics,
        *,
        epoch_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if epoch_seconds is not None and epoch_seconds <= 0:
            msg = f"epoch_seconds must be positive, got {epoch_seconds}"
            raise ValueError(msg)
        self._store = store
        self._metrics = metrics
        self._epoch = epoch_seconds
        self._clock = clock
        self._sealed: dict[int, dict[CounterKey, float]] = {}
        self._totals: dict[CounterKey, float] = {}
        self._generation = 0
        self._failing_since: float | None = None

    @property
    def epoch_seconds(self) -> float | None:
        """Length of a sealing epoch; None when this process serves the latest totals (one replica)."""
        return self._epoch

    async def sync(self) -> None:
        """Flush this process's new increments, then fetch the totals to serve (sealing an epoch if due).

        A failed flush counts in ``gh_exporter_store_flush_failures`` and propagates; the batch stays
        pending and the next sync retries it with the same id, so the store applies it once. Since that
        counter itself waits for the store, ``gh_exporter_store_flush_failing_seconds`` (a gauge
        of this process) says how long flushes have been failing, 0 once one succeeds.
        """
        batch = self._metrics.take_counter_batch()
        if batch is not None:
            try:
                await self._store.add_counters(batch.deltas, batch.id)
            except StoreError:
                self._metrics.inc(STORE_FLUSH_FAILURES)
                now = self._clock()
                if self._failing_since is None:
                    self._failing_since = now
                self._metrics.set(STORE_FLUSH_FAILING, None, now - self._failing_since)
                raise
            # No await between confirming the batch and folding it into the totals: a scrape in between
            # would see the increments neither as flushed nor as unflushed.
            self._metrics.confirm_counter_batch(batch)
            if self._epoch is None:
                totals = dict(self._totals)
                for key, delta in batch.deltas.items():
                    totals[key] = totals.get(key, 0.0) + delta
                self._set_totals(totals)
        self._failing_since = None
        self._metrics.set(STORE_FLUSH_FAILING, None, 0.0)
        if self._epoch is None:
            self._set_totals(await self._store.counters())
        else:
            await self._sync_sealed(self._epoch)

    def served_version(self) -> tuple[int, int]:
        """Changes whenever `served_totals` may have changed; lets a renderer skip unchanged work.

        With epochs this also makes the switch to a newer sealed epoch once its wall-clock moment has
        come, so every replica switches at the same moment rather than at its next sync.
        """
        self._select_epoch()
        return self._generation, self._metrics.generation if self._epoch is None else 0

    def served_totals(self) -> dict[CounterKey, float]:
        """The counter values to serve now, by (family, labels); the caller may keep the result."""
        self._select_epoch()
        totals = dict(self._totals)
        if self._epoch is None:
            for series, unflushed in self._metrics.unflushed_counters().items():
                totals[series] = totals.get(series, 0.0) + unflushed
        return totals

    async def _sync_sealed(self, epoch_seconds: float) -> None:
        """Fetch sealed totals of recent epochs; seal the current one if no replica has yet."""
        current = int(self._clock() // epoch_seconds)
        ttl = epoch_seconds * (SEALED_EPOCHS_KEPT + 2)
        for epoch in range(current - SEALED_EPOCHS_KEPT + 1, current + 1):
            if epoch in self._sealed:
                continue
            record = await self._store.get_checkpoint(f"{SEALED_PREFIX}{epoch}")
            if record is not None:
                self._sealed[epoch] = decode_totals(record)
            elif epoch == current and await self._store.try_lock(f"{SEAL_LOCK_PREFIX}{epoch}", ttl):
                totals = await self._store.counters()
                await self._store.set_checkpoint(f"{SEALED_PREFIX}{epoch}", encode_totals(totals), ttl)
                self._sealed[epoch] = totals
        for old in [e for e in self._sealed if e <= current - SEALED_EPOCHS_KEPT]:
            del self._sealed[old]
        self._select_epoch()

    def _select_epoch(self) -> None:
        """Serve the epoch every replica serves now, or the newest sealed one before it.

        With no usable sealed epoch the totals served so far stay: older values, never lower ones.
        """
        if self._epoch is None:
            return
        served = int((self._clock() - SEAL_DELAY_EPOCHS * self._epoch) // self._epoch)
        usable = [e for e in self._sealed if e <= served]
        if usable:
            self._set_totals(self._sealed[max(usable)])

    def _set_totals(self, totals: dict[CounterKey, float]) -> None:
        if totals != self._totals:
            self._totals = totals
            self._generation += 1


_SealedTotals = list[tuple[str, tuple[tuple[str, str], ...], float]]
"""A sealed record: one ``[name, [[label, value], ...], total]`` entry per series."""


def encode_totals(totals: Mapping[CounterKey, float]) -> bytes:
    """Counter totals as a checkpoint record."""
    sealed: _SealedTotals = [(name, labels, value) for (name, labels), value in totals.items()]
    return codec.encode(sealed)


def decode_totals(record: bytes) -> dict[CounterKey, float]:
    """The totals of a checkpoint record; entries this version cannot read are skipped.

    Earlier versions sealed a map of JSON-text keys to value strings; that shape is still read, so
    a rolling upgrade keeps serving the sealed epochs.
    """
    try:
        return {(name, labels): value for name, labels, value in codec.decode(record, _SealedTotals)}
    except codec.RecordError:
        pass
    totals: dict[CounterKey, float] = {}
    try:
        legacy = codec.decode(record, dict[str, str])
    except codec.RecordError:
        return totals
    for key, value in legacy.items():
        try:
            name, labels = codec.decode(key, tuple[str, tuple[tuple[str, str], ...]])
            totals[(name, labels)] = float(value)
        except (codec.RecordError, ValueError):
            continue  # written by another version: serve what we can read rather than nothing
    return totals
