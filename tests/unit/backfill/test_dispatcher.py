"""Dispatcher policy: coalescing, Copilot days, dedup after confirmed publish, per-org caps, expiry, bounds."""

from __future__ import annotations

from datetime import date

from github_stats_exporter.backfill.base import QueueUnavailable
from github_stats_exporter.backfill.dispatcher import DEDUP_PREFIX, Dispatcher
from github_stats_exporter.backfill.jobs import BackfillJob
from github_stats_exporter.backfill.memory import MemoryJobQueue
from github_stats_exporter.metrics import BACKFILL_DEDUPED, BACKFILL_DROPPED, BACKFILL_ENQUEUED
from github_stats_exporter.model import (
    ActivityReason,
    CopilotReason,
    DayWindow,
    JobKind,
    LocReason,
    MissedWindow,
    TimeWindow,
)
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore

from .conftest import T0, Clock

MIN = 60.0
HOUR = 3600.0


class RecordingQueue(MemoryJobQueue):
    """A memory queue that remembers what was published and can refuse the next publishes."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.jobs: list[BackfillJob] = []
        self.fail_next = 0

    async def publish(self, job: BackfillJob) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise QueueUnavailable("broker down")
        self.jobs.append(job)
        await super().publish(job)


class FlakyStore(MemorySnapshotStore):
    """A memory store whose checkpoint reads fail while ``down`` is set."""

    down = False

    async def get_checkpoint(self, name: str) -> bytes | None:
        if self.down:
            raise StoreUnavailable("redis down")
        return await super().get_checkpoint(name)


def _dispatcher(
    clock: Clock,
    metrics: SelfMetrics,
    *,
    store: MemorySnapshotStore | None = None,
    coalesce: float = 15 * MIN,
    cap: int = 0,
    max_pending: int = 100,
) -> tuple[Dispatcher, RecordingQueue, MemorySnapshotStore]:
    queue = RecordingQueue(clock)
    store = store or MemorySnapshotStore(clock=clock)
    dispatcher = Dispatcher(
        queue,
        store,
        metrics,
        coalesce_window=coalesce,
        dedup_ttl=12 * HOUR,
        max_per_org_per_minute=cap,
        max_message_age=24 * HOUR,
        max_pending=max_pending,
        clock=clock,
    )
    return dispatcher, queue, store


def _missed(
    start: float,
    end: float,
    *,
    org: str = "acme",
    repo: str = "widgets",
    reason: ActivityReason | LocReason = ActivityReason.PULLS_FAILED,
) -> MissedWindow:
    kind = JobKind.LOC if isinstance(reason, LocReason) else JobKind.ACTIVITY
    return MissedWindow(kind, "org", org, repo, reason, TimeWindow(start, end))


def _span(job: BackfillJob) -> tuple[float, float]:
    window = job.missed.window
    assert isinstance(window, TimeWindow)
    return (window.start, window.end)


def _day(job: BackfillJob) -> str:
    window = job.missed.window
    assert isinstance(window, DayWindow)
    assert window.first == window.last
    return window.first.isoformat()


async def test_activity_window_is_aligned_to_the_coalesce_grid_and_never_ends_in_the_future(clock, metrics):
    """A miss inside the current bucket becomes [bucket start, now], not a window ending later."""
    dispatcher, queue, _ = _dispatcher(clock, metrics)
    clock.now = T0 + 20 * MIN
    await dispatcher.record(_missed(T0 + 3 * MIN, T0 + 18 * MIN))
    assert await dispatcher.sweep()
    (job,) = queue.jobs
    assert (job.kind, *_span(job)) == (JobKind.ACTIVITY, T0, T0 + 20 * MIN)
    assert job.created_at == clock.now
    assert job.dedup_key == f"activity:org:acme:widgets:{int(T0)}:{int(T0 + 20 * MIN)}"


async def test_touching_windows_of_one_repository_coalesce_into_one_job(clock, metrics):
    """Misses from consecutive cycles of the same repository merge; other repositories stay apart."""
    dispatcher, queue, _ = _dispatcher(clock, metrics)
    clock.now = T0 + HOUR
    await dispatcher.record(_missed(T0 + 1 * MIN, T0 + 5 * MIN))
    await dispatcher.record(_missed(T0 + 16 * MIN, T0 + 20 * MIN))
    await dispatcher.record(_missed(T0 + 50 * MIN, T0 + 54 * MIN))
    await dispatcher.record(_missed(T0 + 1 * MIN, T0 + 5 * MIN, repo="gadgets"))
    assert await dispatcher.sweep()
    windows = sorted((j.missed.target, *_span(j)) for j in queue.jobs)
    assert windows == [
        ("gadgets", T0, T0 + 15 * MIN),
        ("widgets", T0, T0 + 30 * MIN),
        ("widgets", T0 + 45 * MIN, T0 + 60 * MIN),
    ]


async def test_without_coalescing_windows_are_kept_exactly(clock, metrics):
    """coalesce_window 0 publishes the collector's window unchanged; identical misses count once."""
    dispatcher, queue, _ = _dispatcher(clock, metrics, coalesce=0)
    clock.now = T0 + HOUR
    await dispatcher.record(_missed(T0 + 61, T0 + 122))
    await dispatcher.record(_missed(T0 + 61, T0 + 122))
    await dispatcher.record(_missed(T0 + 100, T0 + 200))
    assert await dispatcher.sweep()
    assert sorted(_span(j) for j in queue.jobs) == [(T0 + 61, T0 + 122), (T0 + 100, T0 + 200)]


async def test_copilot_range_becomes_one_job_per_finished_day(clock, metrics):
    """A multi-day Copilot miss fans out to 1-day jobs; today and later are dropped and counted."""
    dispatcher, queue, _ = _dispatcher(clock, metrics)
    days = DayWindow(date(2024, 5, 30), date(2024, 6, 2))
    missed = MissedWindow(JobKind.COPILOT, "org", "acme", "users", CopilotReason.REPORT_DOWNLOAD_ERROR, days)
    await dispatcher.record(missed)
    assert await dispatcher.sweep()
    assert [(j.kind, j.missed.target, _day(j)) for j in queue.jobs] == [
        (JobKind.COPILOT, "users", "2024-05-30"),
        (JobKind.COPILOT, "users", "2024-05-31"),
    ]
    assert metrics.value(BACKFILL_DROPPED, {"org": "acme", "reason": "future_window"}) == 2


async def test_each_kind_of_a_repository_gets_its_own_job(clock, metrics):
    """An activity window and a LOC week of the same repository never merge: each collector re-runs its own."""
    dispatcher, queue, _ = _dispatcher(clock, metrics)
    clock.now = T0 + HOUR
    await dispatcher.record(_missed(T0, T0 + 10 * MIN))
    await dispatcher.record(_missed(T0, T0 + 10 * MIN, reason=LocReason.CONTRIBUTOR_STATS_FAILED))
    assert await dispatcher.sweep()
    assert sorted((j.kind, str(j.reason)) for j in queue.jobs) == [
        (JobKind.ACTIVITY, "activity_pulls_failed"),
        (JobKind.LOC, "contributor_stats_failed"),
    ]


async def test_loc_misses_of_a_repository_merge_into_one_job(clock, metrics):
    """A LOC job recomputes the latest complete week, so misses of one repository merge even far apart."""
    dispatcher, queue, _ = _dispatcher(clock, metrics, coalesce=0)
    clock.now = T0 + 10 * HOUR
    reason = LocReason.FALLBACK_LIST_COMMITS_FAILED
    await dispatcher.record(_missed(T0, T0 + MIN, reason=reason))
    await dispatcher.record(_missed(T0 + 5 * HOUR, T0 + 6 * HOUR, reason=reason))
    assert await dispatcher.sweep()
    assert [(j.kind, *_span(j)) for j in queue.jobs] == [(JobKind.LOC, T0, T0 + 6 * HOUR)]


async def test_a_window_published_within_dedup_ttl_is_deduplicated(clock, metrics):
    """The same window missed again after its job was published is suppressed and counted."""
    dispatcher, queue, _ = _dispatcher(clock, metrics)
    clock.now = T0 + HOUR
    await dispatcher.record(_missed(T0, T0 + 10 * MIN))
    assert await dispatcher.sweep()
    await dispatcher.record(_missed(T0 + 2 * MIN, T0 + 12 * MIN))
    assert await dispatcher.sweep()
    assert len(queue.jobs) == 1
    assert metrics.value(BACKFILL_ENQUEUED, {"org": "acme", "reason": "activity_pulls_failed"}) == 1
    assert metrics.value(BACKFILL_DEDUPED, {"org": "acme", "reason": "activity_pulls_failed"}) == 1
    assert dispatcher.pending == ()


async def test_dedup_expires_after_its_ttl(clock, metrics):
    """Once dedup_ttl has passed, the same window can be enqueued again."""
    dispatcher, queue, _ = _dispatcher(clock, metrics)
    clock.now = T0 + HOUR
    await dispatcher.record(_missed(T0, T0 + 10 * MIN))
    await dispatcher.sweep()
    clock.advance(12 * HOUR + 1)
    await dispatcher.record(_missed(T0, T0 + 10 * MIN))
    await dispatcher.sweep()
    assert len(queue.jobs) == 2


async def test_a_failed_publish_suppresses_nothing_and_is_retried_next_sweep(clock, metrics):
    """The dedup marker is written only after a confirmed publish; the window waits for the next sweep."""
    dispatcher, queue, store = _dispatcher(clock, metrics)
    clock.now = T0 + HOUR
    queue.fail_next = 1
    await dispatcher.record(_missed(T0, T0 + 10 * MIN))
    assert not await dispatcher.sweep()
    assert len(dispatcher.pending) == 1
    assert (
        await store.get_checkpoint(f"{DEDUP_PREFIX}activity:org:acme:widgets:{int(T0)}:{int(T0 + 15 * MIN)}")
        is None
    )
    assert await dispatcher.sweep()
    assert len(queue.jobs) == 1
    assert metrics.value(BACKFILL_DEDUPED, {"org": "acme", "reason": "activity_pulls_failed"}) == 0
    assert await store.get_checkpoint(DEDUP_PREFIX + queue.jobs[0].dedup_key) is not None


async def test_per_org_cap_holds_the_excess_until_the_next_minute(clock, metrics):
    """Over the cap, windows stay pending (counted as dropped) and go out in a later minute."""
    dispatcher, queue, _ = _dispatcher(clock, metrics, cap=2)
    clock.now = T0 + 10 * HOUR
    for hour in range(3):
        await dispatcher.record(_missed(T0 + hour * HOUR, T0 + hour * HOUR + MIN))
    await dispatcher.record(_missed(T0, T0 + MIN, org="other"))
    assert await dispatcher.sweep()
    assert sorted(j.org for j in queue.jobs) == ["acme", "acme", "other"]
    assert metrics.value(BACKFILL_DROPPED, {"org": "acme", "reason": "org_rate_cap"}) == 1
    assert await dispatcher.sweep()  # same minute: still capped
    assert len(queue.jobs) == 3
    clock.advance(MIN)
    assert await dispatcher.sweep()
    assert len(queue.jobs) == 4
    assert dispatcher.pending == ()


async def test_windows_waiting_longer_than_max_message_age_are_dropped(clock, metrics):
    """A window that could not be published within max_message_age is given up and counted."""
    dispatcher, queue, _ = _dispatcher(clock, metrics)
    queue.fail_next = 10
    clock.now = T0 + HOUR
    await dispatcher.record(_missed(T0, T0 + MIN))
    assert not await dispatcher.sweep()
    clock.advance(24 * HOUR + 1)
    queue.fail_next = 0
    assert await dispatcher.sweep()
    assert queue.jobs == []
    assert metrics.value(BACKFILL_DROPPED, {"org": "acme", "reason": "expired"}) == 1


async def test_pending_list_is_bounded_by_dropping_the_oldest(clock, metrics):
    """Beyond max_pending the oldest window is dropped and counted, the newest are kept."""
    dispatcher, _, _ = _dispatcher(clock, metrics, max_pending=2)
    for index, repo in enumerate(("a", "b", "c")):
        clock.now = T0 + HOUR + index
        await dispatcher.record(_missed(T0, T0 + MIN, repo=repo))
    assert [w.target for w in dispatcher.pending] == ["b", "c"]
    assert metrics.value(BACKFILL_DROPPED, {"org": "acme", "reason": "pending_overflow"}) == 1


async def test_a_store_outage_keeps_windows_pending(clock, metrics):
    """When the dedup check cannot read the store, nothing is published and nothing is lost."""
    store = FlakyStore(clock=clock)
    dispatcher, queue, _ = _dispatcher(clock, metrics, store=store)
    clock.now = T0 + HOUR
    await dispatcher.record(_missed(T0, T0 + MIN))
    store.down = True
    assert not await dispatcher.sweep()
    assert queue.jobs == []
    store.down = False
    assert await dispatcher.sweep()
    assert len(queue.jobs) == 1


async def test_a_window_extended_while_its_publish_is_in_flight_is_not_lost(clock, metrics):
    """A miss recorded during a publish starts a new pending window instead of merging into the sent one."""
    dispatcher, queue, _ = _dispatcher(clock, metrics)
    clock.now = T0 + HOUR
    await dispatcher.record(_missed(T0, T0 + MIN))
    original = queue.publish

    async def publish_and_record(job: BackfillJob) -> None:
        await dispatcher.record(_missed(T0 + 2 * MIN, T0 + 20 * MIN))
        await original(job)

    queue.publish = publish_and_record  # type: ignore[method-assign]
    assert await dispatcher.sweep()
    queue.publish = original  # type: ignore[method-assign]
    assert len(dispatcher.pending) == 1
    assert await dispatcher.sweep()
    assert [_span(j) for j in queue.jobs] == [(T0, T0 + 15 * MIN), (T0, T0 + 30 * MIN)]
