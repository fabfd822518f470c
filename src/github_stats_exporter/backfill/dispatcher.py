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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import structlog

from github_stats_exporter.backfill.base import JobQueue, QueueError
from github_stats_exporter.backfill.jobs import BackfillJob, JobKind, job_kinds, new_job
from github_stats_exporter.metrics import BACKFILL_DEDUPED, BACKFILL_DROPPED, BACKFILL_ENQUEUED
from github_stats_exporter.model import MissedWindow
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import SnapshotStore, StoreError

log = structlog.get_logger(__name__)

DEDUP_PREFIX = "backfill:dedup:"
MAX_COPILOT_DAYS = 28
"""A Copilot miss never spans more than one 28-day report; a longer range is a collector bug."""


@dataclass(slots=True)
class PendingWindow:
    """A window waiting to be published; ``recorded_at`` is when it was first missed."""

    kind: JobKind
    scope: str
    scope_id: str
    target: str
    reason: str
    recorded_at: float
    start: float = 0.0
    end: float = 0.0
    day: str = ""
    in_flight: bool = False

    @property
    def group(self) -> tuple[str, str, str, str]:
        return (self.kind, self.scope, self.scope_id, self.target)


class Dispatcher:
    """Pending missed windows and the policy that publishes them.

    ``coalesce_window`` (seconds, 0 = off) aligns activity windows to a grid and merges the ones that
    touch; ``dedup_ttl`` suppresses a window published within that time; ``max_per_org_per_minute``
    (0 = unlimited) caps publishes per org per clock minute; ``max_message_age`` ends a window's wait.
    """

    def __init__(
        self,
        queue: JobQueue,
        store: SnapshotStore,
        metrics: SelfMetrics,
        *,
        coalesce_window: float,
        dedup_ttl: float,
        max_per_org_per_minute: int,
        max_message_age: float,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._queue = queue
        self._store = store
        self._metrics = metrics
        self._coalesce = coalesce_window
        self._dedup_ttl = dedup_ttl
        self._cap = max_per_org_per_minute
        self._max_age = max_message_age
        self._max_pending = max_pending
        self._clock = clock
        self._pending: dict[tuple[str, str, str, str], list[PendingWindow]] = {}
        self._size = 0
        self._minute = -1
        self._published_this_minute: dict[str, int] = {}

    @property
    def pending(self) -> tuple[PendingWindow, ...]:
        """Windows waiting to be published, oldest first."""
        return tuple(sorted((w for ws in self._pending.values() for w in ws), key=lambda w: w.recorded_at))

    # --- record -----------------------------------------------------------------------------------
    async def record(self, missed: MissedWindow) -> None:
        """Remember a missed window; never raises into the collector (failures are logged)."""
        try:
            self._record(missed)
        except Exception:
            log.exception("backfill_record_failed", scope_id=missed.scope_id, target=missed.target)

    def _record(self, missed: MissedWindow) -> None:
        now = self._clock()
        has_days = bool(missed.start_day or missed.end_day)
        for kind in job_kinds(missed.reason, has_days=has_days):
            if kind is JobKind.COPILOT:
                for day in self._days(missed, now):
                    self._add(self._window(kind, missed, now, day=day))
                continue
            start, end = self._align(missed.start, missed.end)
            self._add(self._window(kind, missed, now, start=start, end=end))

    def _window(
        self,
        kind: JobKind,
        missed: MissedWindow,
        now: float,
        *,
        start: float = 0.0,
        end: float = 0.0,
        day: str = "",
    ) -> PendingWindow:
        return PendingWindow(
            kind, missed.scope, missed.scope_id, missed.target, missed.reason, now, start, end, day
        )

    def _days(self, missed: MissedWindow, now: float) -> list[str]:
        first = date.fromisoformat(missed.start_day or missed.end_day)
        last = date.fromisoformat(missed.end_day or missed.start_day)
        today = datetime.fromtimestamp(now, UTC).date()
        days: list[str] = []
        for offset in range(min((last - first).days + 1, MAX_COPILOT_DAYS)):
            day = first + timedelta(days=offset)
            # A day that has not ended has no 1-day report yet (the Go exporter asked for "today").
            if day >= today:
                self._metrics.inc(BACKFILL_DROPPED, {"org": missed.scope_id, "reason": "future_window"})
                continue
            days.append(day.isoformat())
        return days

    def _align(self, start: float, end: float) -> tuple[float, float]:
        width = self._coalesce
        if width <= 0:
            return start, max(start, end)
        aligned_start = math.floor(start / width) * width
        aligned_end = max(math.ceil(end / width) * width, aligned_start + width)
        return aligned_start, aligned_end

    def _add(self, window: PendingWindow) -> None:
        group = self._pending.setdefault(window.group, [])
        for existing in group:
            if existing.in_flight or not self._mergeable(existing, window):
                continue
            existing.start = min(existing.start, window.start)
            existing.end = max(existing.end, window.end)
            return
        group.append(window)
        self._size += 1
        if self._size > self._max_pending:
            oldest = self.pending[0]
            self._remove(oldest)
            self._metrics.inc(BACKFILL_DROPPED, {"org": oldest.scope_id, "reason": "pending_overflow"})
            log.warning("backfill_pending_overflow", max_pending=self._max_pending, dropped=oldest.group)

    def _mergeable(self, a: PendingWindow, b: PendingWindow) -> bool:
        if a.kind is JobKind.COPILOT:
            return a.day == b.day
        if a.kind is JobKind.LOC:
            return True  # a LOC job recomputes the latest complete week whatever its window says
        if self._coalesce <= 0:
            return (a.start, a.end) == (b.start, b.end)
        return a.start <= b.end and b.start <= a.end

    def _remove(self, window: PendingWindow) -> None:
        group = self._pending.get(window.group, [])
        for index, item in enumerate(group):
            if item is window:
                del group[index]
                self._size -= 1
                break
        if not group:
            self._pending.pop(window.group, None)

    # --- sweep ------------------------------------------------------------------------------------
    async def sweep(self) -> bool:
        """Publish pending windows, oldest first; False when the store or the broker failed."""
        now = self._clock()
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            self._published_this_minute.clear()
        for window in self.pending:
            if window.in_flight:
                continue
            org = window.scope_id
            if now - window.recorded_at > self._max_age:
                self._remove(window)
                self._metrics.inc(BACKFILL_DROPPED, {"org": org, "reason": "expired"})
                continue
            if self._cap and self._published_this_minute.get(org, 0) >= self._cap:
                self._metrics.inc(BACKFILL_DROPPED, {"org": org, "reason": "org_rate_cap"})
                continue
            window.in_flight = True
            try:
                if not await self._publish(window, now):
                    return False
            finally:
                window.in_flight = False
        return True

    async def _publish(self, window: PendingWindow, now: float) -> bool:
        job = self._job(window, now)
        marker = DEDUP_PREFIX + job.dedup_key
        labels = {"org": job.org, "reason": job.reason}
        try:
            seen = await self._store.get_checkpoint(marker) if self._dedup_ttl > 0 else None
        except StoreError as exc:
            log.warning("backfill_dedup_check_failed", error=str(exc))
            return False
        if seen is not None:
            self._remove(window)
            self._metrics.inc(BACKFILL_DEDUPED, labels)
            return True
        try:
            await self._queue.publish(job)
        except QueueError as exc:
            log.warning("backfill_publish_failed", error=str(exc), pending=self._size)
            return False
        self._remove(window)
        self._published_this_minute[job.org] = self._published_this_minute.get(job.org, 0) + 1
        self._metrics.inc(BACKFILL_ENQUEUED, labels)
        # The marker is written only after the broker confirmed the job, so a failed publish never
        # suppresses a window (the Go exporter locked first and lost it, docs/backfill.md). A crash right
        # here can publish a window twice, which the idempotent handlers absorb.
        if self._dedup_ttl <= 0:
            return True
        try:
            await self._store.set_checkpoint(
                marker, {"job_id": job.job_id, "enqueued_at": repr(now)}, ttl_seconds=self._dedup_ttl
            )
        except StoreError as exc:
            log.warning("backfill_dedup_mark_failed", error=str(exc), job_id=job.job_id)
        return True

    def _job(self, window: PendingWindow, now: float) -> BackfillJob:
        # Never ask for the future: a coalesced bucket ends at the latest "now".
        end = min(window.end, now)
        return new_job(
            kind=window.kind,
            scope=window.scope,
            scope_id=window.scope_id,
            target=window.target,
            reason=window.reason,
            created_at=now,
            start=min(window.start, end),
            end=end,
            day=window.day,
        )
