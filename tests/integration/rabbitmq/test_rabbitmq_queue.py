"""The RabbitMQ adapter on a real broker: topology, confirms, manual ack, TTL retries, DLQ, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel

from github_stats_exporter.backfill.base import DLQ_REASON_HEADER, LAST_ERROR_HEADER, QueueTopologyError
from github_stats_exporter.backfill.dispatcher import Dispatcher
from github_stats_exporter.backfill.jobs import BackfillJob, decode_job, new_job
from github_stats_exporter.backfill.rabbitmq import RabbitMQJobQueue
from github_stats_exporter.backfill.worker import BackfillWorker, QueueMonitor, Result
from github_stats_exporter.metrics import BACKFILL_PROCESSED, QUEUE_DEPTH, QUEUE_DLQ_DEPTH
from github_stats_exporter.model import ActivityReason, JobKind, MissedWindow, TimeWindow
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore

from .conftest import RabbitNode

pytestmark = pytest.mark.integration

DELAYS = (0.2, 0.4)


def _job(target: str = "widgets", created_at: float | None = None) -> BackfillJob:
    now = time.time() if created_at is None else created_at
    window = TimeWindow(now - 900, now)
    missed = MissedWindow(JobKind.ACTIVITY, "org", "acme", target, ActivityReason.REVIEWS_FAILED, window)
    return new_job(missed, created_at=now)


@contextlib.asynccontextmanager
async def _queue(rabbit: RabbitNode, names: dict[str, str], **kw: object) -> AsyncIterator[RabbitMQJobQueue]:
    queue = RabbitMQJobQueue(
        rabbit.url,
        exchange=names["exchange"],
        queue=names["queue"],
        dlq=names["dlq"],
        requeue_delays=DELAYS,
        reconnect_interval=0.3,
        timeout=5,
        **kw,  # type: ignore[arg-type]
    )
    async with queue:
        yield queue


@contextlib.asynccontextmanager
async def _own_channel(rabbit: RabbitNode) -> AsyncIterator[AbstractChannel]:
    """A plain aio-pika channel of the test's own: a foreign producer, or a look at the broker itself."""
    connection = await aio_pika.connect(rabbit.url)
    async with connection:
        yield await connection.channel()


def _worker(
    queue: RabbitMQJobQueue,
    handler,
    store: MemorySnapshotStore | None = None,
    metrics: SelfMetrics | None = None,
    **kw: object,
):
    return BackfillWorker(
        queue,
        {JobKind.ACTIVITY: handler},
        store or MemorySnapshotStore(),
        metrics or SelfMetrics(),
        requeue_delays=DELAYS,
        max_message_age=3600,
        unavailable_pause=0.05,
        **kw,  # type: ignore[arg-type]
    )


def outcomes(worker_metrics: list[SelfMetrics]) -> dict[Result, float]:
    """Backfill outcomes summed over the workers' self-metrics."""
    return {
        result: sum(
            m.value(BACKFILL_PROCESSED, {"org": "acme", "kind": "activity", "result": str(result)})
            for m in worker_metrics
        )
        for result in Result
    }


def outcomes_text(worker_metrics: list[SelfMetrics]) -> str:
    parts = []
    for result, total in outcomes(worker_metrics).items():
        if total:
            parts.append(f"{result}={total:g}")
    return " ".join(parts)


async def _wait_for(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            msg = "condition not met in time"
            raise AssertionError(msg)
        await asyncio.sleep(0.02)


async def test_published_jobs_are_persistent_stamped_and_acked_after_processing(rabbit, names):
    """A job arrives as a persistent, timestamped message with attempt headers and is gone after ack."""
    async with _queue(rabbit, names) as queue:
        job = _job()
        await queue.publish(job)
        async with _own_channel(rabbit) as channel:
            # Persistence is a property of the message on the broker: look at it there, then put it back.
            work = await channel.declare_queue(names["queue"], passive=True)
            stored = await work.get(timeout=5)
            assert stored.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            await stored.nack(requeue=True)
        async with contextlib.aclosing(queue.deliveries()) as deliveries:
            delivery = await asyncio.wait_for(anext(deliveries), 5)
            assert decode_job(delivery.body) == job
            assert delivery.headers["attempt"] == "1"
            assert delivery.headers["id"] == job.job_id
            assert delivery.timestamp is not None
            assert abs(delivery.timestamp - time.time()) < 5
            await delivery.ack()
        stats = await queue.stats()
        assert (stats.depth, stats.dlq_depth) == (0, 0)
    depths = rabbit.queue_depths()
    assert depths[names["queue"]] == 0
    assert f"{names['queue']}.retry.200ms" in depths
    assert f"{names['queue']}.retry.400ms" in depths
    assert f"{names['queue']}.dlq" in depths


async def test_unacked_messages_are_redelivered_when_a_consumer_stops(rabbit, names):
    """A consumer that stops without acking gives its message back; nothing is lost."""
    async with _queue(rabbit, names) as queue:
        job = _job()
        await queue.publish(job)
        async with contextlib.aclosing(queue.deliveries()) as deliveries:
            await asyncio.wait_for(anext(deliveries), 5)
        async with contextlib.aclosing(queue.deliveries()) as deliveries:
            again = await asyncio.wait_for(anext(deliveries), 5)
            assert decode_job(again.body) == job
            await again.ack()


async def test_failed_attempts_come_back_after_the_retry_delays_then_reach_the_dlq(rabbit, names):
    """TTL retry queues return attempt 2 after ~0.2 s and attempt 3 after ~0.4 s; then the DLQ."""
    seen: list[tuple[int, float]] = []

    async def failing(job: BackfillJob) -> None:
        seen.append((job.attempt, time.monotonic()))
        msg = "GitHub 502"
        raise RuntimeError(msg)

    async with _queue(rabbit, names) as queue:
        worker = _worker(queue, failing)
        await queue.publish(_job())
        task = asyncio.create_task(worker.run())
        await _wait_for(lambda: len(seen) == 3)
        await _wait_for(lambda: rabbit.queue_depths().get(f"{names['queue']}.dlq") == 1)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        attempts = [attempt for attempt, _ in seen]
        gaps = [b - a for (_, a), (_, b) in itertools.pairwise(seen)]
        assert attempts == [1, 2, 3]
        assert 0.18 <= gaps[0] < 1.5
        assert 0.38 <= gaps[1] < 1.5
        stats = await queue.stats()
        assert stats.dlq_depth == 1
        assert stats.depth == 0


async def test_dead_letters_keep_their_reason_and_can_be_replayed(rabbit, names):
    """The DLQ keeps the body with last_error; replay sends valid jobs back and keeps garbage."""
    async with _queue(rabbit, names) as queue:
        job = _job()

        async def failing(_: BackfillJob) -> None:
            msg = "repository archived"
            raise RuntimeError(msg)

        worker = _worker(queue, failing)
        await queue.publish(job)
        async with _own_channel(rabbit) as channel:  # a foreign producer sends garbage
            exchange = await channel.get_exchange(names["exchange"])
            await exchange.publish(aio_pika.Message(b"not json"), names["queue"], mandatory=True)
        task = asyncio.create_task(worker.run())
        await _wait_for(lambda: rabbit.queue_depths().get(f"{names['queue']}.dlq") == 2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        reasons = set()
        async with _own_channel(rabbit) as channel:
            dlq = await channel.declare_queue(queue.dlq_name, passive=True)
            for _ in range(2):
                message = await dlq.get(timeout=5)
                reasons.add((message.headers[DLQ_REASON_HEADER], message.headers[LAST_ERROR_HEADER]))
                await message.nack(requeue=True)
        assert reasons == {
            ("attempts_exhausted", "RuntimeError: repository archived"),
            ("malformed:not_json", "not_json"),
        }
        result = await queue.replay_dead(10, now=time.time())
        assert (result.replayed, result.kept) == (1, 1)
        async with contextlib.aclosing(queue.deliveries()) as deliveries:
            replayed = decode_job((await asyncio.wait_for(anext(deliveries), 5)).body)
        assert (replayed.job_id, replayed.attempt) == (job.job_id, 1)


async def test_a_conflicting_existing_queue_is_a_clear_topology_error(rabbit, names):
    """A classic queue of the same name (left by the Go exporter) is reported, not half-used."""
    connection = await aio_pika.connect(rabbit.url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(names["queue"], durable=True)
    queue = RabbitMQJobQueue(
        rabbit.url, exchange=names["exchange"], queue=names["queue"], requeue_delays=DELAYS
    )
    with pytest.raises(QueueTopologyError, match="Go exporter"):
        await queue.connect()


async def test_monitor_reports_depth_dlq_and_a_growing_head_age(rabbit, names):
    """Depth and DLQ depth come from the broker; the head age grows while jobs wait."""
    metrics = SelfMetrics()
    now = [time.time()]
    async with _queue(rabbit, names, clock=lambda: now[0]) as queue:
        for _ in range(3):
            await queue.publish(_job())
        await queue.publish_dead(b"{}", {DLQ_REASON_HEADER: "malformed:missing_field:version"})
        monitor = QueueMonitor(queue, metrics)
        assert await monitor.tick()
        now[0] += 30
        assert await monitor.tick()
        assert metrics.value(QUEUE_DEPTH, {"queue": names["queue"]}) == 3
        assert metrics.value(QUEUE_DLQ_DEPTH, {"queue": f"{names['queue']}.dlq"}) == 1
        assert (await queue.stats()).oldest_age_seconds >= 30


async def test_a_broker_restart_mid_flight_loses_no_job_and_counts_none_twice(rabbit: RabbitNode, names):
    """Jobs published before, during and after a restart are all processed; results are written once."""
    store = MemorySnapshotStore()
    results: dict[str, int] = {}
    runs: list[str] = []
    gate = asyncio.Event()
    gate.set()

    async def handler(job: BackfillJob) -> None:
        await gate.wait()
        runs.append(job.job_id)
        await asyncio.sleep(0.01)
        results[job.job_id] = 1  # an idempotent write, like a snapshot put

    metrics = SelfMetrics()
    async with _queue(rabbit, names) as queue:
        dispatcher = Dispatcher(
            queue,
            store,
            metrics,
            coalesce_window=0,
            dedup_ttl=3600,
            max_per_org_per_minute=0,
            max_message_age=3600,
        )
        now = time.time()
        for index in range(40):
            await dispatcher.record(
                MissedWindow(
                    JobKind.ACTIVITY,
                    "org",
                    "acme",
                    f"repo{index}",
                    ActivityReason.COMMITS_FAILED,
                    TimeWindow(now - 600, now - 300),
                )
            )
        assert await dispatcher.sweep()
        worker_metrics = [SelfMetrics() for _ in range(3)]
        workers = [_worker(queue, handler, store, m) for m in worker_metrics]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        await _wait_for(lambda: len(results) >= 5)
        gate.clear()  # some handlers are now mid-job when the broker goes away
        await asyncio.to_thread(rabbit.stop)
        assert not await queue.healthy()
        for index in range(40, 50):
            await dispatcher.record(
                MissedWindow(
                    JobKind.ACTIVITY,
                    "org",
                    "acme",
                    f"repo{index}",
                    ActivityReason.COMMITS_FAILED,
                    TimeWindow(now - 600, now - 300),
                )
            )
        assert not await dispatcher.sweep()  # broker down: windows stay pending
        assert len(dispatcher.pending) == 10
        stopped_with = len(results)
        gate.set()
        await asyncio.to_thread(rabbit.start)
        for _ in range(100):
            if await queue.healthy() and await dispatcher.sweep():
                break
            await asyncio.sleep(0.1)
        assert dispatcher.pending == ()
        await _wait_for(lambda: len(results) == 50, within=30)
        await asyncio.sleep(0.3)  # let redeliveries of already-finished attempts arrive
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert 5 <= stopped_with < 50  # the restart really happened mid-flight
        assert len(results) == 50
        assert sum(results.values()) == 50
        print(f"restart: {len(runs)} handler runs for 50 jobs, {outcomes_text(worker_metrics)}")
        stats = await queue.stats()
        assert (stats.depth, stats.dlq_depth) == (0, 0)
    totals = outcomes(worker_metrics)
    assert totals[Result.PROCESSED] >= 50
    assert totals[Result.DEAD_LETTERED] == 0
    assert totals[Result.EXPIRED] == 0
    assert len(set(runs)) == 50
