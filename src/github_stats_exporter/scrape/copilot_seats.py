"""The Copilot seats collector of one org (or the enterprise): billing summary + seat list → one snapshot.

`SeatsCollector.tick` fetches the org's ``…/copilot/billing`` (orgs only) and every page of
``…/copilot/billing/seats`` (ETag-conditional), counts them with `SeatCensus` and replaces the
scope's snapshot. An unchanged census is not rewritten. Seats are a present-tense view, so a failure
is counted and reported to health but never recorded for backfill: the next tick reads the present
again. This module must not know config files, queues or the HTTP server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from github_stats_exporter import metrics
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.copilot_seats import CopilotSeatsApi, SeatScope
from github_stats_exporter.github.errors import GitHubError
from github_stats_exporter.health import HealthReport
from github_stats_exporter.model import Snapshot, SnapshotKey
from github_stats_exporter.scrape.copilot_map import LabelPolicy
from github_stats_exporter.scrape.seat_census import MalformedSeatList, SeatCensus
from github_stats_exporter.selfmetrics import CollectorMetrics
from github_stats_exporter.store.base import CollectionStore, StoreError

log = structlog.get_logger(__name__)

SNAPSHOT_KIND = "copilot_seats"
SEAT_COMPONENTS: dict[str, str] = {
    "org": "github_api_copilot_org_seats",
    "enterprise": "github_api_copilot_enterprise_seats",
}
MAX_UNCHANGED_SECONDS = 86400.0
"""An unchanged census is still rewritten after a day, well inside the store's retention (two days or more
while Copilot is on, docs/configuration.md), so a quiet org never expires from the page."""


@dataclass(frozen=True, slots=True)
class SeatOptions:
    """One scope's seat collection; ``users`` (the user label policy) adds the per-user series."""

    scope: SeatScope
    scope_id: str
    interval_seconds: float
    users: LabelPolicy | None = None

    def __post_init__(self) -> None:
        if self.scope not in ("org", "enterprise") or not self.scope_id:
            msg = f"seat scope must be org or enterprise with an id, got {self.scope!r}/{self.scope_id!r}"
            raise ValueError(msg)
        if self.interval_seconds <= 0:
            msg = "interval_seconds must be positive"
            raise ValueError(msg)

    @property
    def component(self) -> str:
        """The health component this collector reports on (member: the scope id)."""
        return SEAT_COMPONENTS[self.scope]


def snapshot_key(scope: SeatScope, scope_id: str) -> SnapshotKey:
    return SnapshotKey(SNAPSHOT_KIND, (scope, scope_id))


class SeatsCollector:
    """Copilot seats of one org or of the enterprise, through that scope's authenticated client."""

    def __init__(
        self,
        client: GitHubClient,
        store: CollectionStore,
        self_metrics: CollectorMetrics,
        options: SeatOptions,
        *,
        health: HealthReport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = CopilotSeatsApi(client)
        self._store = store
        self._metrics = self_metrics
        self.options = options
        self._health = health
        self._clock = clock
        self._labels = {"org": options.scope_id, "scope": options.scope}

    async def tick(self) -> bool:
        """One collection; True when the snapshot now holds the present census."""
        opts = self.options
        try:
            census = await self._census()
        except (GitHubError, MalformedSeatList) as exc:
            return self._fail("fetch_error", str(exc))
        except _Truncated as exc:
            return self._fail("truncated", str(exc))
        for reason, count in census.dropped.items():
            self._metrics.inc(metrics.COPILOT_SEAT_RECORDS_DROPPED, {**self._labels, "reason": reason}, count)
        samples = tuple(census.samples())
        key = snapshot_key(opts.scope, opts.scope_id)
        now = self._clock()
        try:
            stored = (await self._store.get_many([key])).get(key)
            unchanged = (
                stored is not None
                and stored.samples == samples
                and now - stored.produced_at < MAX_UNCHANGED_SECONDS
            )
            if not unchanged:
                meta = {"seats": str(census.seats)}
                await self._store.put(Snapshot(key, samples, now, meta=meta))
        except StoreError as exc:
            self._run("store_error")
            log.warning("copilot_seats_store_failed", org=opts.scope_id, scope=opts.scope, error=str(exc))
            return False
        self._run("unchanged" if unchanged else "success")
        self._metrics.set(metrics.COPILOT_SEATS_LAST_SUCCESS, self._labels, now)
        self._report(healthy=True)
        return True

    async def _census(self) -> SeatCensus:
        opts = self.options
        billing = await self._api.billing(opts.scope_id) if opts.scope == "org" else None
        pages = await self._api.seats(opts.scope, opts.scope_id)
        if pages.truncated:
            msg = "the seat list has more pages than github.max_pages allows; raise it to count every seat"
            raise _Truncated(msg)
        census = SeatCensus(opts.scope_id, opts.scope, self._clock(), opts.users)
        for body in pages.bodies:
            census.add_page(body)
        if billing is not None:
            census.add_billing(billing.body)
        else:
            census.use_total_seats()
        return census

    def _fail(self, result: str, detail: str) -> bool:
        self._run(result)
        log.warning("copilot_seats_failed", org=self.options.scope_id, scope=self.options.scope, error=detail)
        self._report(healthy=False, detail=detail)
        return False

    def _run(self, result: str) -> None:
        self._metrics.inc(metrics.COPILOT_SEAT_COLLECTIONS, {**self._labels, "result": result})

    def _report(self, *, healthy: bool, detail: str = "") -> None:
        if self._health is not None:
            self._health.report(self.options.component, self.options.scope_id, healthy, detail)


class _Truncated(Exception):
    """The page cap stopped the listing: the census would undercount, so nothing is published."""
