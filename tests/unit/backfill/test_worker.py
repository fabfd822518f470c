"""Worker semantics on the in-process queue: ack after the handler, retries by attempt, DLQ, age, locks."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from github_stats_exporter.backfill.base import (
    DLQ_REASON_HEADER,
    LAST_ERROR_HEADER,
    Handler,
    QueueUnavailable,
)
from github_stats_exporter.backfill.jobs import BackfillJob, PermanentJobError, encode_job, new_job
from github_stats_exporter.backfill.memory import MemoryJobQueue
from github_stats_exporter.backfill.worker import (
    DONE_PREFIX,
    RUN_LOCK_PREFIX,
    BackfillWorker,
    QueueMonitor,
    Result,
)
from github_stats_exporter.metrics import BACKFILL_PROCESSED, QUEUE_DEPTH, QUEUE_DLQ_DEPTH, QUEUE_OLDEST_AGE
from github_stats_exporter.model import ActivityReason, JobKind, LocReason, MissedWindow, TimeWindow
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore

from .conftest import T0, Clock

DELAYS = (0.01, 0.02)


def _job(created_at: float = T0, kind: JobKind = JobKind.ACTIVITY) -> BackfillJob:
    reason = ActivityReason.PULLS_FAILED if kind is JobKind.ACTIVITY else LocReason.CONTRIBUTOR_STATS_FAILED
    window = TimeWindow(created_at - 900, created_at)
    return new_job(MissedWindow(kind, "org", "acme", "widgets", reason, window), created_at=created_at)


class Calls:
    """A fake handler that fails a scripted number of times, then succeeds."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or RuntimeError("GitHub said 502")
        self.jobs: list[BackfillJob] = []

    async def __call__(self, job: BackfillJob) -> None:
        self.jobs.append(job)
        if len(self.jobs) <= self.failures:
            raise self.error


def _worker(
    queue: MemoryJobQueue,
    store: MemorySnapshotStore,
    metrics: SelfMetrics,
    clock: Clock,
    handler: Handler,
    **kw: object,
) -> tuple[BackfillWorker, list[float]]:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    worker = BackfillWorker(
        queue,
        {JobKind.ACTIVITY: handler},
        store,
        metrics,
        requeue_delays=DELAYS,
        max_message_age=3600.0,
        clock=clock,
        sleep=sleep,
        **kw,  # type: ignore[arg-type]
    )
    return worker, pauses


async def _process_next(worker: BackfillWorker, queue: MemoryJobQueue) -> Result:
    async with contextlib.aclosing(queue.deliveries()) as deliveries:
        delivery = await asyncio.wait_for(anext(deliveries), 1.0)
        return await worker.process(delivery)


def _count(metrics: SelfMetrics, result: str, kind: str = "activity", org: str = "acme") -> float:
    return metrics.value(BACKFILL_PROCESSED, {"org": org, "kind": kind, "result": result})


async def test_success_acks_after_the_handler_and_marks_the_attempt_done(queue, store, metrics, clock):
    """The handler runs for the exact job, then the message is gone and the attempt is marked done."""
    handler = Calls()
    worker, _ = _worker(queue, store, metrics, clock, handler)
    job = _job()
    await queue.publish(job)
    assert await _process_next(worker, queue) is Result.PROCESSED
    assert handler.jobs == [job]
    assert (await queue.stats()).depth == 0
    assert await store.get_checkpoint(f"{DONE_PREFIX}{job.job_id}:1") is not None
    assert await store.try_lock(f"{RUN_LOCK_PREFIX}{job.job_id}:1", 1)  # released again
    assert _count(metrics, "processed") == 1


async def test_a_failed_attempt_is_retried_after_its_delay_and_really_runs_again(
    queue, store, metrics, clock
):
    """Attempt 2 comes back through the retry delay and re-runs (the Go exporter acked it as duplicate)."""
    handler = Calls(failures=1)
    worker, _ = _worker(queue, store, metrics, clock, handler)
    await queue.publish(_job())
    assert await _process_next(worker, queue) is Result.RETRIED
    assert (await queue.stats()).depth == 0  # waiting in the retry delay, not on the work queue
    assert await _process_next(worker, queue) is Result.PROCESSED
    assert [j.attempt for j in handler.jobs] == [1, 2]
    assert _count(metrics, "retried") == 1
    assert _count(metrics, "processed") == 1


async def test_retries_follow_the_schedule_then_go_to_the_dlq(queue, store, metrics, clock):
    """After len(requeue_delays) retries the job is dead-lettered with its last error."""
    handler = Calls(failures=99)
    worker, _ = _worker(queue, store, metrics, clock, handler)
    await queue.publish(_job())
    results = [await _process_next(worker, queue) for _ in range(len(DELAYS) + 1)]
    assert results == [Result.RETRIED, Result.RETRIED, Result.DEAD_LETTERED]
    assert [j.attempt for j in handler.jobs] == [1, 2, 3]
    ((_, headers),) = queue.dead
    assert headers[DLQ_REASON_HEADER] == "attempts_exhausted"
    assert headers[LAST_ERROR_HEADER] == "RuntimeError: GitHub said 502"
    assert headers["attempt"] == "3"
    assert (await queue.stats()).depth == 0


async def test_retry_delays_are_taken_in_order(store, metrics, clock):
    """Attempt n waits requeue_delays[n-1] before it is visible again."""
    delays: list[float] = []

    class Spy(MemoryJobQueue):
        async def publish_retry(self, job: BackfillJob, delay_seconds: float) -> None:
            delays.append(delay_seconds)
            await super().publish_retry(job, 0)

    queue = Spy(clock=clock)
    worker, _ = _worker(queue, store, metrics, clock, Calls(failures=99))
    await queue.publish(_job())
    for _ in range(3):
        await _process_next(worker, queue)
    assert delays == list(DELAYS)
    await queue.close()


async def test_a_permanent_failure_skips_the_retries(queue, store, metrics, clock):
    """A handler that says retrying cannot help sends the job straight to the DLQ."""
    handler = Calls(failures=1, error=PermanentJobError("repository acme/widgets no longer exists"))
    worker, _ = _worker(queue, store, metrics, clock, handler)
    await queue.publish(_job())
    assert await _process_next(worker, queue) is Result.DEAD_LETTERED
    assert queue.dead[0][1][DLQ_REASON_HEADER] == "permanent"
    assert len(handler.jobs) == 1


async def test_a_job_without_a_handler_is_dead_lettered(queue, store, metrics, clock):
    """A kind nobody handles on this replica is a permanent failure, not an endless retry."""
    worker, _ = _worker(queue, store, metrics, clock, Calls())
    await queue.publish(_job(kind=JobKind.LOC))
    assert await _process_next(worker, queue) is Result.DEAD_LETTERED
    assert "no handler" in queue.dead[0][1][LAST_ERROR_HEADER]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x00garbage", id="binary"),
        pytest.param(b'{"version": 9}', id="future-version"),
        pytest.param(encode_job(_job()).replace(b'"attempt":1', b'"attempt":-1'), id="bad-attempt"),
    ],
)
async def test_a_malformed_message_goes_to_the_dlq_and_the_worker_carries_on(
    queue, store, metrics, clock, body: bytes
):
    """A body that is not a valid job is dead-lettered with a reason and acked; the next job still runs."""
    handler = Calls()
    worker, _ = _worker(queue, store, metrics, clock, handler)
    await queue.publish_raw(body)
    await queue.publish(_job())
    assert await _process_next(worker, queue) is Result.MALFORMED
    assert await _process_next(worker, queue) is Result.PROCESSED
    ((dead_body, headers),) = queue.dead
    assert dead_body == body
    assert headers[DLQ_REASON_HEADER].startswith("malformed:")
    assert (
        metrics.value(BACKFILL_PROCESSED, {"org": "unknown", "kind": "unknown", "result": "malformed"}) == 1
    )


async def test_messages_older_than_max_message_age_are_dropped_and_counted(queue, store, metrics, clock):
    """An expired job is acked without running; age counts from the first enqueue across retries."""
    handler = Calls()
    worker, _ = _worker(queue, store, metrics, clock, handler)
    await queue.publish(_job(created_at=T0 - 3601).next_attempt())
    assert await _process_next(worker, queue) is Result.EXPIRED
    assert handler.jobs == []
    assert queue.dead == []
    assert _count(metrics, "expired") == 1


async def test_a_redelivered_finished_attempt_is_a_duplicate(queue, store, metrics, clock):
    """When an ack was lost, the redelivered message is recognised as done and not run again."""
    handler = Calls()
    worker, _ = _worker(queue, store, metrics, clock, handler)
    job = _job()
    await queue.publish(job)
    await _process_next(worker, queue)
    await queue.publish(job)  # the broker's redelivery
    assert await _process_next(worker, queue) is Result.DUPLICATE
    assert len(handler.jobs) == 1


async def test_an_attempt_locked_elsewhere_is_deferred_not_lost(queue, store, metrics, clock):
    """If another worker holds the attempt's lock, the job comes back later with the same attempt."""
    handler = Calls()
    worker, _ = _worker(queue, store, metrics, clock, handler)
    job = _job()
    assert await store.try_lock(f"{RUN_LOCK_PREFIX}{job.job_id}:1", 30)
    await queue.publish(job)
    assert await _process_next(worker, queue) is Result.DEFERRED
    clock.advance(700)  # the crashed holder's lock expires
    assert await _process_next(worker, queue) is Result.PROCESSED
    assert [j.attempt for j in handler.jobs] == [1]


async def test_a_store_outage_gives_the_message_back_after_a_pause(queue, metrics, clock):
    """Without a store nothing can be recorded, so the message is requeued untouched (after a pause)."""

    class DownStore(MemorySnapshotStore):
        async def get_checkpoint(self, name: str) -> bytes | None:
            raise StoreUnavailable("redis down")

    handler = Calls()
    worker, pauses = _worker(queue, DownStore(clock=clock), metrics, clock, handler)
    await queue.publish(_job())
    assert await _process_next(worker, queue) is Result.REQUEUED
    assert pauses == [1.0]
    assert handler.jobs == []
    assert (await queue.stats()).depth == 1


async def test_a_retry_that_cannot_be_published_keeps_the_original(queue, store, metrics, clock):
    """If the retry queue refuses the copy, the original message is requeued instead of acked."""

    class NoRetries(MemoryJobQueue):
        async def publish_retry(self, job: BackfillJob, delay_seconds: float) -> None:
            raise QueueUnavailable("broker down")

    q = NoRetries(clock=clock)
    handler = Calls(failures=1)
    worker, _ = _worker(q, store, metrics, clock, handler)
    await q.publish(_job())
    assert await _process_next(worker, q) is Result.REQUEUED
    assert await _process_next(worker, q) is Result.PROCESSED
    assert [j.attempt for j in handler.jobs] == [1, 1]
    await q.close()


async def test_a_handler_that_hangs_times_out_and_is_retried(queue, store, metrics, clock):
    """A handler run longer than job_timeout counts as a failed attempt."""
    block = asyncio.Event()

    async def hang(job: BackfillJob) -> None:
        await block.wait()

    worker, _ = _worker(queue, store, metrics, clock, hang, job_timeout=0.05)
    await queue.publish(_job())
    assert await _process_next(worker, queue) is Result.RETRIED


async def test_cancelling_a_worker_mid_job_leaves_the_message_for_redelivery(queue, store, metrics, clock):
    """Shutdown during a handler run requeues the unacked message; another worker finishes it."""
    started = asyncio.Event()

    async def slow(job: BackfillJob) -> None:
        started.set()
        await asyncio.Event().wait()

    worker, _ = _worker(queue, store, metrics, clock, slow)
    await queue.publish(_job())
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await queue.stats()).depth == 1
    clock.advance(700)  # the lock of the cancelled run expires
    handler = Calls()
    other, _ = _worker(queue, store, metrics, clock, handler)
    assert await _process_next(other, queue) is Result.PROCESSED


async def test_concurrent_workers_process_every_job_once(queue, store, metrics, clock):
    """Several consumers on one queue share the work without losing or repeating a job."""
    handler = Calls()
    workers = [_worker(queue, store, metrics, clock, handler)[0] for _ in range(3)]
    jobs = [_job() for _ in range(20)]
    for job in jobs:
        await queue.publish(job)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    for _ in range(100):
        if len(handler.jobs) == len(jobs):
            break
        await asyncio.sleep(0.005)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(j.job_id for j in handler.jobs) == sorted(j.job_id for j in jobs)


async def test_monitor_publishes_depth_age_dlq_and_health(queue, metrics, clock):
    """The monitor turns queue statistics into gauges and reports the broker's health."""
    states: list[tuple[bool, str]] = []
    monitor = QueueMonitor(queue, metrics, lambda ok, detail: states.append((ok, detail)))
    await queue.publish(_job())
    clock.advance(42)
    await queue.publish(_job())
    await queue.publish_dead(b"x", {})
    assert await monitor.tick()
    assert metrics.value(QUEUE_DEPTH, {"queue": "gh.backfill.jobs"}) == 2
    assert metrics.value(QUEUE_OLDEST_AGE, {"queue": "gh.backfill.jobs"}) == 42
    assert metrics.value(QUEUE_DLQ_DEPTH, {"queue": "gh.backfill.jobs.dlq"}) == 1
    assert states == [(True, "")]
    await queue.close()
    assert not await monitor.tick()
    assert states[-1][0] is False


def test_a_worker_needs_a_retry_schedule(queue, store, metrics):
    """An empty requeue_delays list is a wiring bug and is refused at construction."""
    with pytest.raises(ValueError, match="requeue_delays"):
        BackfillWorker(queue, {}, store, metrics, requeue_delays=(), max_message_age=60)
