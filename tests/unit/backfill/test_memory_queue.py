"""The in-process queue: FIFO with manual ack, redelivery, bounded depth, delayed retries, DLQ replay."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

import pytest

from github_stats_exporter.backfill.base import JobQueue, QueueUnavailable
from github_stats_exporter.backfill.jobs import decode_job, encode_job, new_job
from github_stats_exporter.backfill.memory import MemoryJobQueue
from github_stats_exporter.model import ActivityReason, JobKind, MissedWindow, TimeWindow

from .conftest import T0, Clock


def _job(target: str = "widgets"):
    missed = MissedWindow(
        JobKind.ACTIVITY, "org", "acme", target, ActivityReason.COMMITS_FAILED, TimeWindow(T0 - 60, T0)
    )
    return new_job(missed, created_at=T0)


def test_memory_queue_implements_the_port():
    """The in-process queue satisfies the JobQueue protocol the worker and dispatcher use."""
    queue: JobQueue = MemoryJobQueue()
    assert isinstance(queue, JobQueue)


async def test_messages_come_out_in_order_and_unacked_ones_come_back_first(queue):
    """A consumer that stops without settling returns its message to the front of the queue."""
    first, second = _job("a"), _job("b")
    await queue.publish(first)
    await queue.publish(second)
    async with contextlib.aclosing(queue.deliveries()) as deliveries:
        delivery = await anext(deliveries)
        assert decode_job(delivery.body) == first
    async with contextlib.aclosing(queue.deliveries()) as deliveries:
        again = await anext(deliveries)
        assert decode_job(again.body) == first
        await again.ack()
        assert decode_job((await anext(deliveries)).body) == second


async def test_headers_and_timestamp_describe_the_job(queue, clock: Clock):
    """Each message carries id, attempt and created_at headers and its publish time."""
    job = _job().next_attempt()
    await queue.publish(job)
    async with contextlib.aclosing(queue.deliveries()) as deliveries:
        delivery = await anext(deliveries)
        assert delivery.headers == {"id": job.job_id, "attempt": "2", "created_at": repr(T0)}
        assert delivery.timestamp == clock.now
        await delivery.ack()


async def test_a_full_queue_refuses_publishes(clock):
    """Beyond max_depth a publish fails, so the dispatcher keeps the window pending."""
    queue = MemoryJobQueue(max_depth=1, clock=clock)
    await queue.publish(_job())
    with pytest.raises(QueueUnavailable):
        await queue.publish(_job())
    await queue.close()
    with pytest.raises(QueueUnavailable):
        await queue.publish(_job())


async def test_delayed_retries_wait_in_their_own_queue(queue):
    """A retry is invisible on the work queue until its delay has passed, and counted under its delay."""
    await queue.publish_retry(_job(), 0.05)
    stats = await queue.stats()
    assert (stats.depth, stats.retry_depths) == (0, {"gh.backfill.jobs.retry.50ms": 1})
    await asyncio.sleep(0.08)
    assert (await queue.stats()).depth == 1


async def test_replay_sends_valid_dead_jobs_back_as_fresh_jobs_and_keeps_malformed_ones(queue, clock):
    """A DLQ replay restarts valid jobs at attempt 1 with a new creation time; garbage stays."""
    job = _job().next_attempt().next_attempt()
    await queue.publish_dead(b"garbage", {"x-gse-dead-reason": "malformed:not_json"})
    await queue.publish_dead(encode_job(job), {"x-gse-dead-reason": "attempts_exhausted"})
    result = await queue.replay_dead(10, now=T0 + 5)
    assert (result.replayed, result.kept) == (1, 1)
    async with contextlib.aclosing(queue.deliveries()) as deliveries:
        replayed = decode_job((await anext(deliveries)).body)
    assert (replayed.job_id, replayed.attempt, replayed.created_at) == (job.job_id, 1, T0 + 5)
    assert queue.dead[0][0] == b"garbage"


async def test_close_ends_consumers(queue):
    """Closing the queue ends every waiting consumer instead of leaving it blocked."""

    async def consume() -> int:
        return len([d async for d in queue.deliveries()])

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await queue.close()
    assert await asyncio.wait_for(task, 1) == 0
    assert not await queue.healthy()


TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_the_trace_context_travels_in_a_header_and_survives_retry_and_replay(queue):
    """A traced job's traceparent is a header (the body is unchanged) on publish, retry and DLQ replay."""
    job = dataclasses.replace(_job(), trace_parent=TRACE)
    await queue.publish(job)
    await queue.publish_retry(job.next_attempt(), 0)
    await queue.publish_dead(encode_job(job), {"traceparent": TRACE})
    assert (await queue.replay_dead(10, now=T0 + 5)).replayed == 1
    async with contextlib.aclosing(queue.deliveries()) as deliveries:
        seen = []
        for _ in range(3):
            delivery = await asyncio.wait_for(anext(deliveries), 1)
            untraced = encode_job(dataclasses.replace(job, trace_parent=""))
            seen.append((delivery.headers.get("traceparent"), delivery.body == untraced))
            await delivery.ack()
    assert [header for header, _ in seen] == [TRACE, TRACE, TRACE]
    assert seen[0][1]  # the first copy's body is byte-for-byte the untraced job's
