"""Backfill worker: consume a job, re-run the collector for its exact window, then ack; and queue gauges.

Every replica runs ``consumer_count`` workers. A message is acknowledged only after its handler returned
(its store write done) or after it was safely re-published (retry queue, DLQ). The worker never decides
what a job collects (handlers do) and never drops a message silently: every outcome is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import structlog

from github_stats_exporter.backfill.base import (
    ATTEMPT_HEADER,
    DLQ_REASON_HEADER,
    JOB_ID_HEADER,
    LAST_ERROR_HEADER,
    TRACE_PARENT_HEADER,
    Delivery,
    Handler,
    JobQueue,
    QueueError,
    trace_parent_of,
)
from github_stats_exporter.backfill.jobs import (
    BackfillJob,
    MalformedJob,
    PermanentJobError,
    decode_job,
)
from github_stats_exporter.cancellation import raise_if_cancelling
from github_stats_exporter.logs import redact
from github_stats_exporter.metrics import (
    BACKFILL_PROCESSED,
    QUEUE_DEPTH,
    QUEUE_DLQ_DEPTH,
    QUEUE_OLDEST_AGE,
)
from github_stats_exporter.model import JobKind
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store import codec
from github_stats_exporter.store.base import CheckpointStore, LockStore, StoreError
from github_stats_exporter.tracing import NO_TRACING, Attributes, Tracing

log = structlog.get_logger(__name__)

RUN_LOCK_PREFIX = "backfill:job:"
DONE_PREFIX = "backfill:done:"
MAX_ERROR_CHARS = 500


class JobStore(CheckpointStore, LockStore, Protocol):
    """What a worker uses: a lock per running attempt and a marker per finished one."""


class Result(StrEnum):
    """Outcome of one delivery (the ``result`` label of gh_exporter_backfill_jobs_processed_total)."""

    PROCESSED = "processed"
    RETRIED = "retried"
    DEAD_LETTERED = "dead_lettered"
    EXPIRED = "expired"
    DUPLICATE = "duplicate"
    DEFERRED = "deferred"
    MALFORMED = "malformed"
    REQUEUED = "requeued"


class BackfillWorker:
    """Processes deliveries with the handler registered for each job kind.

    ``requeue_delays[n-1]`` is the wait after attempt ``n`` fails; once they are used up the job goes to
    the DLQ. ``job_timeout`` bounds one handler run and is also how long its idempotency lock lives, so
    a replica that dies mid-job delays that job by at most this long.
    """

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[JobKind, Handler],
        store: JobStore,
        metrics: SelfMetrics,
        *,
        requeue_delays: Sequence[float],
        max_message_age: float,
        job_timeout: float = 600.0,
        unavailable_pause: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        if not requeue_delays:
            msg = "requeue_delays must list at least one delay"
            raise ValueError(msg)
        self._queue = queue
        self._handlers = dict(handlers)
        self._store = store
        self._metrics = metrics
        self._delays = tuple(requeue_delays)
        self._max_age = max_message_age
        self._job_timeout = job_timeout
        self._pause = unavailable_pause
        self._clock = clock
        self._sleep = sleep
        self._tracing = tracing

    async def run(self) -> None:
        """Consume forever; an unsettled message goes back to the queue when the task is cancelled."""
        async with contextlib.aclosing(self._queue.deliveries()) as deliveries:
            async for delivery in deliveries:
                await self.process(delivery)
                # A cancellation swallowed inside a store call must still end the consumer.
                raise_if_cancelling()

    async def process(self, delivery: Delivery) -> Result:
        """Handle one delivery end to end and settle it; returns what happened (also counted)."""
        try:
            job = decode_job(delivery.body)
        except MalformedJob as exc:
            return await self._malformed(delivery, exc)
        # The trace context rides in a header, not the body; retries and the DLQ carry it on.
        job = dataclasses.replace(job, trace_parent=trace_parent_of(delivery.headers))
        attributes: Attributes = {
            "backfill.kind": str(job.kind),
            "backfill.reason": str(job.reason),
            "backfill.attempt": job.attempt,
            "github.org": job.org,
        }
        with self._tracing.span("backfill.job", attributes, parent=job.trace_parent) as span:
            result = await self._handle(delivery, job)
            span.set("backfill.result", str(result))
            return result

    async def _handle(self, delivery: Delivery, job: BackfillJob) -> Result:
        if self._clock() - job.created_at > self._max_age:
            await delivery.ack()
            log.info("backfill_job_expired", job_id=job.job_id, dedup_key=job.dedup_key)
            return self._count(job, Result.EXPIRED)
        lock = f"{RUN_LOCK_PREFIX}{job.job_id}:{job.attempt}"
        done = f"{DONE_PREFIX}{job.job_id}:{job.attempt}"
        try:
            if await self._store.get_checkpoint(done) is not None:
                # Already processed; the ack was lost (broker restart) and the message came back.
                await delivery.ack()
                return self._count(job, Result.DUPLICATE)
            # The lock outlives a handler run by a margin, so a crashed holder's lock expires on its own.
            locked = await self._store.try_lock(lock, self._job_timeout + 60.0)
        except StoreError as exc:
            return await self._give_back(delivery, job, f"store: {exc}")
        if not locked:
            return await self._defer(delivery, job)
        return await self._run(delivery, job, lock, done)

    async def _run(self, delivery: Delivery, job: BackfillJob, lock: str, done: str) -> Result:
        handler = self._handlers.get(job.kind)
        try:
            if handler is None:
                msg = f"no handler for job kind {job.kind!r} on this replica"
                raise PermanentJobError(msg)
            async with asyncio.timeout(self._job_timeout):
                await handler(job)
        except PermanentJobError as exc:
            await self._release(lock)
            return await self._dead(delivery, job, "permanent", exc)
        except Exception as exc:
            # Any handler failure (GitHub, store, timeout, bug) spends one attempt of the schedule.
            await self._release(lock)
            return await self._retry(delivery, job, exc)
        try:
            await self._store.set_checkpoint(
                done, codec.encode({"at": self._clock()}), ttl_seconds=self._max_age
            )
        except StoreError as exc:
            log.warning("backfill_done_mark_failed", job_id=job.job_id, error=str(exc))
        await self._release(lock)
        await self._ack(delivery, job)
        log.info("backfill_job_processed", job_id=job.job_id, kind=str(job.kind), attempt=job.attempt)
        return self._count(job, Result.PROCESSED)

    async def _retry(self, delivery: Delivery, job: BackfillJob, exc: Exception) -> Result:
        if job.attempt > len(self._delays):
            return await self._dead(delivery, job, "attempts_exhausted", exc)
        delay = self._delays[job.attempt - 1]
        try:
            await self._queue.publish_retry(job.next_attempt(), delay)
        except QueueError as publish_exc:
            return await self._give_back(delivery, job, f"retry publish: {publish_exc}")
        await self._ack(delivery, job)
        log.warning(
            "backfill_job_retry",
            job_id=job.job_id,
            attempt=job.attempt,
            delay_seconds=delay,
            error=_error_text(exc),
        )
        return self._count(job, Result.RETRIED)

    async def _dead(self, delivery: Delivery, job: BackfillJob, reason: str, exc: Exception) -> Result:
        headers = {
            DLQ_REASON_HEADER: reason,
            LAST_ERROR_HEADER: _error_text(exc),
            ATTEMPT_HEADER: str(job.attempt),
            JOB_ID_HEADER: job.job_id,
            "dead_lettered_at": _now_text(self._clock()),
        }
        if job.trace_parent:
            headers[TRACE_PARENT_HEADER] = job.trace_parent
        try:
            await self._queue.publish_dead(delivery.body, headers)
        except QueueError as publish_exc:
            return await self._give_back(delivery, job, f"dlq publish: {publish_exc}")
        await self._ack(delivery, job)
        log.error("backfill_job_dead_lettered", job_id=job.job_id, reason=reason, error=_error_text(exc))
        return self._count(job, Result.DEAD_LETTERED)

    async def _defer(self, delivery: Delivery, job: BackfillJob) -> Result:
        # Another worker holds this attempt (or died holding it): look again after the first delay
        # without spending an attempt. Acking it as a duplicate would lose it if that worker died.
        try:
            await self._queue.publish_retry(job, self._delays[0])
        except QueueError as exc:
            return await self._give_back(delivery, job, f"defer publish: {exc}")
        await self._ack(delivery, job)
        return self._count(job, Result.DEFERRED)

    async def _malformed(self, delivery: Delivery, exc: MalformedJob) -> Result:
        headers = {
            DLQ_REASON_HEADER: f"malformed:{exc.reason}",
            LAST_ERROR_HEADER: exc.reason,
            "dead_lettered_at": _now_text(self._clock()),
        }
        try:
            await self._queue.publish_dead(delivery.body, headers)
        except QueueError as publish_exc:
            await self._sleep(self._pause)
            await delivery.requeue()
            log.warning("backfill_dlq_unavailable", error=str(publish_exc))
            return Result.REQUEUED
        await delivery.ack()
        log.error("backfill_message_malformed", reason=exc.reason, size=len(delivery.body))
        self._metrics.inc(BACKFILL_PROCESSED, {"org": "unknown", "kind": "unknown", "result": "malformed"})
        return Result.MALFORMED

    async def _give_back(self, delivery: Delivery, job: BackfillJob, why: str) -> Result:
        # The store or the broker is down: nothing can be recorded, so the message goes back untouched
        # after a pause (an immediate requeue would spin on the same failure).
        log.warning("backfill_job_requeued", job_id=job.job_id, why=why)
        await self._sleep(self._pause)
        await delivery.requeue()
        return self._count(job, Result.REQUEUED)

    async def _ack(self, delivery: Delivery, job: BackfillJob) -> None:
        try:
            await delivery.ack()
        except QueueError as exc:
            # The channel died; the broker will redeliver and the done marker (or the retry that was
            # already published) makes the second delivery harmless.
            log.warning("backfill_ack_failed", job_id=job.job_id, error=str(exc))

    async def _release(self, lock: str) -> None:
        try:
            await self._store.release_lock(lock)
        except StoreError as exc:
            log.warning("backfill_lock_release_failed", lock=lock, error=str(exc))

    def _count(self, job: BackfillJob, result: Result) -> Result:
        self._metrics.inc(BACKFILL_PROCESSED, {"org": job.org, "kind": str(job.kind), "result": str(result)})
        return result


class QueueMonitor:
    """Publishes queue depth, oldest age and DLQ depth as gauges, and the broker's health.

    ``on_health(healthy, detail)`` feeds a non-required health component: readiness never depends on
    the queue, /healthz shows it.
    """

    def __init__(
        self,
        queue: JobQueue,
        metrics: SelfMetrics,
        on_health: Callable[[bool, str], None] | None = None,
    ) -> None:
        self._queue = queue
        self._metrics = metrics
        self._on_health = on_health

    async def tick(self) -> bool:
        try:
            healthy = await self._queue.healthy()
            stats = await self._queue.stats() if healthy else None
        except QueueError as exc:
            healthy, stats = False, None
            detail = f"{type(exc).__name__}: {exc}"
        else:
            detail = "" if healthy else "broker connection is down"
        if self._on_health is not None:
            self._on_health(healthy, detail)
        if stats is None:
            return False
        self._metrics.set(QUEUE_DEPTH, {"queue": stats.queue}, stats.depth)
        self._metrics.set(QUEUE_OLDEST_AGE, {"queue": stats.queue}, stats.oldest_age_seconds)
        self._metrics.set(QUEUE_DLQ_DEPTH, {"queue": stats.dlq}, stats.dlq_depth)
        for name, depth in stats.retry_depths.items():
            self._metrics.set(QUEUE_DEPTH, {"queue": name}, depth)
        return True


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(redact(text))[:MAX_ERROR_CHARS]


def _now_text(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
