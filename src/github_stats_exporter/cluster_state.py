"""The collectors' own state, shared through the store so every replica serves the same page.

The leader's collectors set ``cluster_state`` gauges (rate-limit budget, repositories, ledger sizes,
cycle times, Copilot freshness, queue depth) and collection health in their process. `ClusterState`
publishes those values as one snapshot (``exporter_state``) on the leader, and reads it back on every
replica: the gauges are rendered from the store like business series, and collection health feeds
`/healthz`. A replica that becomes leader adopts the published values it has not measured itself yet, so
nothing disappears while its first cycles run. Per-process facts (its own connections, role, page cache) never go
through here (docs/metrics.md, "Cluster state and per-process series").

This module does not schedule anything; the page refresh calls `publish` and `load`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from github_stats_exporter.health import Health
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import SnapshotStore

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
    ) -> None:
        self._store = store
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
        term can set a value that adoption must not override.
        """
        self._metrics.clear_cluster_state()
        self._health.clear_collection_state()
        self._adopted = False

    async def publish(self) -> bool:
        """Write this process's collector state when it changed (or to keep it from expiring).

        Call on the leader only. Returns True when a snapshot was written. Store errors propagate.
        """
        if not self._adopted:
            stored = (await self._store.get_many([STATE_KEY])).get(STATE_KEY)
            if stored is not None:
                self._metrics.adopt_cluster_state(stored.samples)
                self._health.adopt_collection_state(_health_of(stored))
            self._adopted = True
        samples = self._metrics.cluster_state_samples()
        health = self._health.collection_state()
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
