"""Dispatcher: turns missed windows into backfill jobs — coalesced, deduplicated, capped per org.

`record` is the sink collectors call (it only remembers the window and never raises into them);
`sweep` publishes what is pending (a leader-only periodic job). A window leaves the pending list only
once the broker confirmed it, was deduplicated, or expired: a full queue, an org over its per-minute
cap or a broker outage leaves it for the next sweep. This module never runs a job itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import structlog

from github_stats_exporter.backfill.base import JobQueue, QueueError
from github_stats_exporter.backfill.jobs import BackfillJob, new_job
from github_stats_exporter.metrics import BACKFILL_DEDUPED, BACKFILL_DROPPED, BACKFILL_ENQUEUED
from github_stats_exporter.model import DayWindow, JobKind, MissedWindow, TimeWindow
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store import codec
from github_stats_exporter.store.base import CheckpointStore, StoreError
from github_stats_exporter.tracing import NO_TRACING, Tracing

log = structlog.get_logger(__name__)

DEDUP_PREFIX = "backfill:dedup:"
MAX_COPILOT_DAYS = 28
"""A Copilot miss never spans more than one 28-day report; a longer range is a collector bug."""

_Group = tuple[JobKind, str, str, str]


@dataclass(slots=True)
class _Pending:
    """A window waiting to be published; ``recorded_at`` is when it was first missed.

    ``trace_parent`` is the span that first recorded it (docs/tracing.md): the job carries it.
    """

    missed: MissedWindow
    recorded_at: float
    in_flight: bool = False
    trace_parent: str = ""

    @property
    def group(self) -> _Group:
        m = self.missed
        return (m.kind, m.scope, m.scope_id, m.target)


class Dispatcher:
    """Pending missed windows and the policy that publishes them.

    ``coalesce_window`` (seconds, 0 = off) aligns activity windows to a grid and merges the ones that
    touch; ``dedup_ttl`` suppresses a window published within that time; ``max_per_org_per_minute``
    (0 = unlimited) caps publishes per org per clock minute; ``max_message_age`` ends a window's wait.
    """

    def __init__(
        self,
        queue: JobQueue,
        store: CheckpointStore,
        metrics: SelfMetrics,
        *,
        coalesce_window: float,
        dedup_ttl: float,
        max_per_org_per_minute: int,
        max_message_age: float,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.time,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._queue = queue
        self._tracing = tracing
        self._store = store
        self._metrics = metrics
        self._coalesce = coalesce_window
        self._dedup_ttl = dedup_ttl
        self._cap = max_per_org_per_minute
        self._max_age = max_message_age
        self._max_pending = max_pending
        self._clock = clock
        self._pending: dict[_Group, list[_Pending]] = {}
        self._size = 0
        self._minute = -1
        self._published_this_minute: dict[str, int] = {}

    @property
    def pending(self) -> tuple[MissedWindow, ...]:
        """Windows waiting to be published (aligned, one per Copilot day), oldest first."""
        return tuple(entry.missed for entry in self._entries())

    def _entries(self) -> list[_Pending]:
        return sorted((e for es in self._pending.values() for e in es), key=lambda e: e.recorded_at)

    # --- record -----------------------------------------------------------------------------------
    async def record(self, missed: MissedWindow) -> None:
        """Remember a missed window; never raises into the collector (failures are logged)."""
        try:
            self._record(missed)
        except Exception:
            log.exception("backfill_record_failed", scope_id=missed.scope_id, target=missed.target)

    def _record(self, missed: MissedWindow) -> None:
        now = self._clock()
        parent = self._tracing.parent()  # the collector's span: the job's trace continues it
        match missed.window:
            case DayWindow() as days:
                # One job per day: the 1-day report endpoint is what a Copilot backfill asks for.
                for day in self._finished_days(missed.scope_id, days, now):
                    self._add(_Pending(replace(missed, window=DayWindow(day, day)), now, trace_parent=parent))
            case TimeWindow() as span:
                self._add(_Pending(replace(missed, window=self._align(span)), now, trace_parent=parent))

    def _finished_days(self, org: str, window: DayWindow, now: float) -> list[date]:
        today = datetime.fromtimestamp(now, UTC).date()
        days: list[date] = []
        for day in window.days[:MAX_COPILOT_DAYS]:
            # A day that has not ended has no 1-day report yet (the Go exporter asked for "today").
            if day >= today:
                self._metrics.inc(BACKFILL_DROPPED, {"org": org, "reason": "future_window"})
                continue
            days.append(day)
        return days

    def _align(self, window: TimeWindow) -> TimeWindow:
        width = self._coalesce
        if width <= 0:
            return window
        aligned_start = math.floor(window.start / width) * width
        aligned_end = max(math.ceil(window.end / width) * width, aligned_start + width)
        return TimeWindow(aligned_start, aligned_end)

    def _add(self, entry: _Pending) -> None:
        group = self._pending.setdefault(entry.group, [])
        for existing in group:
            if existing.in_flight:
                continue
            merged = self._merged(existing.missed, entry.missed)
            if merged is not None:
                existing.missed = merged
                return
        group.append(entry)
        self._size += 1
        if self._size > self._max_pending:
            oldest = self._entries()[0]
            self._remove(oldest)
            org = oldest.missed.scope_id
            self._metrics.inc(BACKFILL_DROPPED, {"org": org, "reason": "pending_overflow"})
            log.warning("backfill_pending_overflow", max_pending=self._max_pending, dropped=oldest.group)

    def _merged(self, a: MissedWindow, b: MissedWindow) -> MissedWindow | None:
        """``a`` widened to cover ``b`` (same group), or None when they stay two jobs."""
        match a.window, b.window:
            case DayWindow() as x, DayWindow() as y:
                return a if x == y else None
            case TimeWindow() as x, TimeWindow() as y:
                # A LOC job recomputes the latest complete week whatever its window says.
                if a.kind is JobKind.LOC or (x.start <= y.end and y.start <= x.end and self._coalesce > 0):
                    return replace(a, window=x.union(y))
                return a if x == y else None
            case _:
                return None

    def _remove(self, entry: _Pending) -> None:
        group = self._pending.get(entry.group, [])
        for index, item in enumerate(group):
            if item is entry:
                del group[index]
                self._size -= 1
                break
        if not group:
            self._pending.pop(entry.group, None)

    # --- sweep ------------------------------------------------------------------------------------
    async def sweep(self) -> bool:
        """Publish pending windows, oldest first; False when the store or the broker failed."""
        now = self._clock()
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            self._published_this_minute.clear()
        for entry in self._entries():
            if entry.in_flight:
                continue
            org = entry.missed.scope_id
            if now - entry.recorded_at > self._max_age:
                self._remove(entry)
                self._metrics.inc(BACKFILL_DROPPED, {"org": org, "reason": "expired"})
                continue
            if self._cap and self._published_this_minute.get(org, 0) >= self._cap:
                self._metrics.inc(BACKFILL_DROPPED, {"org": org, "reason": "org_rate_cap"})
                continue
            entry.in_flight = True
            try:
                if not await self._publish(entry, now):
                    return False
            finally:
                entry.in_flight = False
        return True

    async def _publish(self, entry: _Pending, now: float) -> bool:
        job = replace(self._job(entry.missed, now), trace_parent=entry.trace_parent)
        marker = DEDUP_PREFIX + job.dedup_key
        labels = {"org": job.org, "reason": str(job.reason)}
        try:
            seen = await self._store.get_checkpoint(marker) if self._dedup_ttl > 0 else None
        except StoreError as exc:
            log.warning("backfill_dedup_check_failed", error=str(exc))
            return False
        if seen is not None:
            self._remove(entry)
            self._metrics.inc(BACKFILL_DEDUPED, labels)
            return True
        try:
            await self._queue.publish(job)
        except QueueError as exc:
            log.warning("backfill_publish_failed", error=str(exc), pending=self._size)
            return False
        self._remove(entry)
        self._published_this_minute[job.org] = self._published_this_minute.get(job.org, 0) + 1
        self._metrics.inc(BACKFILL_ENQUEUED, labels)
        # The marker is written only after the broker confirmed the job: written first, it would
        # suppress the window for dedup_ttl whenever the publish then failed. A crash right here can
        # publish a window twice, which the idempotent handlers absorb.
        if self._dedup_ttl <= 0:
            return True
        try:
            await self._store.set_checkpoint(
                marker,
                codec.encode({"job_id": job.job_id, "enqueued_at": now}),
                ttl_seconds=self._dedup_ttl,
            )
        except StoreError as exc:
            log.warning("backfill_dedup_mark_failed", error=str(exc), job_id=job.job_id)
        return True

    @staticmethod
    def _job(missed: MissedWindow, now: float) -> BackfillJob:
        if isinstance(missed.window, TimeWindow):
            # Never ask for the future: a coalesced bucket ends at the latest "now".
            end = min(missed.window.end, now)
            missed = replace(missed, window=TimeWindow(min(missed.window.start, end), end))
        return new_job(missed, created_at=now)
