"""The collectors' own state, shared through the store so every replica serves the same page.

The leader's collectors set ``cluster_state`` gauges (rate-limit budget, repositories, ledger sizes,
cycle times, Copilot freshness, queue depth) and collection health in their process. `ClusterState`
publishes those values as one snapshot (``exporter_state``) on the leader, and reads it back on every
replica: the gauges are rendered from the store like business series, and collection health feeds
`/healthz`. A replica that becomes leader adopts the published values it has not measured itself yet, so
nothing disappears while its first cycles run. Per-process facts (its own connections, role, page cache) never go
through here (docs/metrics.md, "Cluster state and per-process series").

In ``leader_election.mode: sharded`` every replica collects the units it holds: each one writes its
own part with `publish_part` (a checkpoint with a TTL, `cluster_parts`), and the leader's `publish` merges
the live parts into the same ``exporter_state`` snapshot instead of publishing only its own values.
A replica that loses a unit forgets that unit's collector state (`units_lost`): the values are
labelled by org, not by unit, so only what it measures for the units it still holds may stay in its
part. The collector gauges and health verdicts of each unit are kept apart (`selfmetrics.UnitMetrics`,
`health.UnitHealth`) and stay for the units still held; what was measured outside any unit is
forgotten whole.

This module does not schedule anything; the page refresh calls `publish_part`, `publish` and `load`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import structlog

from github_stats_exporter.cluster_parts import (
    PART_PREFIX,
    PartError,
    StatePart,
    UnitState,
    decode_part,
    merge_parts,
)
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import SHARD_UNIT_EPOCH
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import CheckpointStore, SnapshotStore

log = structlog.get_logger(__name__)

STATE_KEY = SnapshotKey("exporter_state")
_HEALTH_META = "collection_health"
_PUBLISHER_META = "publisher"


class ClusterState:
    """Publishes the leader's collector state and hands every replica the published view."""

    def __init__(
        self,
        store: SnapshotStore,
        metrics: SelfMetrics,
        health: Health,
        *,
        identity: str,
        rewrite_after_seconds: float,
        clock: Callable[[], float] = time.time,
        parts: CheckpointStore | None = None,
        part_ttl_seconds: float = 0.0,
    ) -> None:
        """``parts`` (sharded mode only) is where every replica writes its part, kept ``part_ttl_seconds``."""
        self._store = store
        self._parts = parts
        self._part_ttl = part_ttl_seconds
        self._part_written: tuple[Any, ...] | None = None
        self._part_written_at = float("-inf")
        self._folds: list[Callable[[Collection[str]], Collection[str]]] = []
        self._members: Callable[[], Collection[str]] = tuple
        self._metrics = metrics
        self._health = health
        self._identity = identity
        self._rewrite_after = rewrite_after_seconds
        self._clock = clock
        self._adopted = False
        self._published: tuple[Any, ...] | None = None
        self._published_at = float("-inf")

    def leadership_changed(self) -> None:
        """A term begins or ends: forget the earlier term's state, adopt what is published first.

        Synchronous on purpose: it runs in the role change, before any collection tick of the new
        term can set a value that adoption must not override. In sharded mode each replica's part is
        about the units it holds, not about leadership: nothing is forgotten, the new leader merges.
        """
        if self._parts is not None:
            self._published = None
            return
        self._metrics.clear_cluster_state()
        self._health.clear_collection_state()
        self._adopted = False

    @property
    def sharded(self) -> bool:
        return self._parts is not None

    def follow_members(self, members: Callable[[], Collection[str]]) -> None:
        """Merge only the parts of these live members (the coordinator's last beat; empty: not known yet).

        A replica killed without leaving drops out of the merge when its membership expires, with its
        units, instead of when its part's TTL passes."""
        self._members = members

    def on_units_lost(self, retain: Callable[[Collection[str]], Collection[str]]) -> None:
        """Also call ``retain`` with the units still held when units are lost (the health folds that
        remember which unit measured which member); it returns the components it still has a verdict for."""
        self._folds.append(retain)

    def units_lost(self, held: Mapping[str, int]) -> None:
        """Sharded mode: this replica gave units up and still holds ``held`` (unit -> epoch); forget the
        lost units' state and the state measured outside units, its held units re-measure that.

        Synchronous, like `leadership_changed`: it runs before the new holder's values can be merged.
        Who holds which unit is not a measurement of this replica's units and is kept.
        """
        self._metrics.retain_units(held)
        view = [s for s in self._metrics.cluster_state_samples() if s.name == SHARD_UNIT_EPOCH.name]
        self._metrics.clear_cluster_state()
        for sample in view:
            self._metrics.set(SHARD_UNIT_EPOCH, dict(sample.labels), sample.value)
        kept: set[str] = set()
        for retain in self._folds:
            kept |= set(retain(held))
        self._health.clear_collection_state(keep=kept)

    def _own_part(self) -> StatePart:
        samples = tuple(s for s in self._metrics.cluster_state_samples() if s.name != SHARD_UNIT_EPOCH.name)
        health = self._health.collection_state(measured_only=True)
        units = {u: UnitState(epoch, values) for u, (epoch, values) in self._metrics.unit_states().items()}
        return StatePart(self._identity, self._clock(), samples, health, units)

    async def publish_part(self) -> bool:
        """Sharded mode, every replica: write this replica's part when it changed or half its TTL passed.

        Returns True when a part was written. Store errors propagate.
        """
        if self._parts is None:
            msg = "publish_part is for sharded collection only"
            raise RuntimeError(msg)
        part = self._own_part()
        content = (part.samples, json.dumps(part.health, sort_keys=True), tuple(part.units.items()))
        if content == self._part_written and part.produced_at - self._part_written_at < self._part_ttl / 2:
            return False
        await self._parts.set_checkpoint(PART_PREFIX + self._identity, part.encode(), self._part_ttl)
        self._part_written, self._part_written_at = content, part.produced_at
        return True

    async def _merged(self, store: CheckpointStore) -> tuple[tuple[Sample, ...], dict[str, dict[str, Any]]]:
        """Sharded mode: the live parts of every replica (this one's as it is now) merged into one."""
        own = self._own_part()
        parts = [own]
        live = set(self._members())
        for name in await store.checkpoint_names(PART_PREFIX):
            replica = name.removeprefix(PART_PREFIX)
            if replica == self._identity or (live and replica not in live):
                continue
            raw = await store.get_checkpoint(name)
            if raw is None:
                continue
            try:
                parts.append(decode_part(raw))
            except PartError as exc:
                log.warning("cluster_state_part_unreadable", name=name, error=str(exc))
        merged = merge_parts(parts, now=own.produced_at, ttl_seconds=self._part_ttl)
        # Who holds which unit is the leader's view, not a measurement: it is published once, from here.
        view = tuple(s for s in self._metrics.cluster_state_samples() if s.name == SHARD_UNIT_EPOCH.name)
        samples = tuple(sorted((*merged.samples, *view), key=lambda s: (s.name, s.labels)))
        return samples, merged.health

    async def publish(self) -> bool:
        """Write this process's collector state when it changed (or to keep it from expiring).

        Call on the leader only. Returns True when a snapshot was written. Store errors propagate.
        In sharded mode the snapshot is the merge of every replica's live part.
        """
        if self._parts is not None:
            samples, merged_health = await self._merged(self._parts)
            return await self._write(samples, merged_health)
        if not self._adopted:
            stored = (await self._store.get_many([STATE_KEY])).get(STATE_KEY)
            if stored is not None:
                self._metrics.adopt_cluster_state(stored.samples)
                self._health.adopt_collection_state(_health_of(stored))
            self._adopted = True
        return await self._write(self._metrics.cluster_state_samples(), self._health.collection_state())

    async def _write(self, samples: tuple[Sample, ...], health: Mapping[str, Mapping[str, Any]]) -> bool:
        content = (samples, json.dumps(health, sort_keys=True))
        now = self._clock()
        if content == self._published and now - self._published_at < self._rewrite_after:
            return False
        meta = {_HEALTH_META: content[1], _PUBLISHER_META: self._identity}
        await self._store.put(Snapshot(STATE_KEY, samples, now, meta=meta))
        self._published, self._published_at = content, now
        return True

    async def load(self) -> None:
        """Read the published collection health into `Health` (every replica, every page refresh)."""
        stored = (await self._store.get_many([STATE_KEY])).get(STATE_KEY)
        if stored is None:
            self._health.set_collection_view({})
            return
        self._health.set_collection_view(
            _health_of(stored),
            {"publisher": stored.meta.get(_PUBLISHER_META, ""), "published_unixtime": stored.produced_at},
        )


def _health_of(snapshot: Snapshot) -> Mapping[str, Mapping[str, Any]]:
    """The collection health recorded in a state snapshot; a record we cannot read counts as none."""
    text = snapshot.meta.get(_HEALTH_META, "")
    try:
        decoded = json.loads(text) if text else {}
    except ValueError:
        log.warning("cluster_state_unreadable", key=str(snapshot.key))
        return {}
    if not isinstance(decoded, dict):
        return {}
    return {str(k): v for k, v in decoded.items() if isinstance(v, dict)}
