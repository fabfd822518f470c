"""Trace context through a real broker: a backfill job and its retry continue the recording cycle's trace."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from tests.support.otlp_receiver import otlp_receiver

from github_stats_exporter.backfill.dispatcher import Dispatcher
from github_stats_exporter.backfill.jobs import BackfillJob
from github_stats_exporter.backfill.rabbitmq import RabbitMQJobQueue
from github_stats_exporter.backfill.worker import BackfillWorker, Result
from github_stats_exporter.config.schema import TelemetryConfig
from github_stats_exporter.model import ActivityReason, JobKind, MissedWindow, TimeWindow
from github_stats_exporter.otel_tracing import OtelTracing
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore

from .conftest import RabbitNode

pytestmark = pytest.mark.integration


async def test_a_retried_job_keeps_the_recording_cycles_trace_through_rabbitmq(rabbit: RabbitNode, names):
    """Both attempts of a job (the second via the retry queue) are children of the cycle that recorded it."""
    attempts: list[BackfillJob] = []

    async def flaky(job: BackfillJob) -> None:
        attempts.append(job)
        if len(attempts) == 1:
            msg = "GitHub blinked"
            raise RuntimeError(msg)

    now = time.time()
    async with otlp_receiver() as receiver:
        config = TelemetryConfig.model_validate(
            {"otel_enabled": True, "otel_trace_mode": "detailed", "otel_exporter_otlp_endpoint": receiver.url}
        )
        tracing = OtelTracing.from_config(config, service_version="test")
        queue = RabbitMQJobQueue(
            rabbit.url,
            exchange=names["exchange"],
            queue=names["queue"],
            dlq=names["dlq"],
            requeue_delays=(0.2,),
            reconnect_interval=0.3,
            timeout=5,
        )
        async with queue:
            store = MemorySnapshotStore()
            dispatcher = Dispatcher(
                queue,
                store,
                SelfMetrics(),
                coalesce_window=0,
                dedup_ttl=0,
                max_per_org_per_minute=0,
                max_message_age=3600,
                tracing=tracing,
            )
            worker = BackfillWorker(
                queue,
                {JobKind.ACTIVITY: flaky},
                store,
                SelfMetrics(),
                requeue_delays=(0.2,),
                max_message_age=3600,
                tracing=tracing,
            )
            window = TimeWindow(now - 900, now)
            with tracing.span("collection.cycle", {"collector": "org_cycle"}):
                await dispatcher.record(
                    MissedWindow(
                        JobKind.ACTIVITY, "org", "acme", "widgets", ActivityReason.COMMITS_FAILED, window
                    )
                )
            assert await dispatcher.sweep()
            async with contextlib.aclosing(queue.deliveries()) as deliveries:
                results = [
                    await worker.process(await asyncio.wait_for(anext(deliveries), 10)) for _ in range(2)
                ]
        await tracing.close()
    assert results == [Result.RETRIED, Result.PROCESSED]
    assert [job.attempt for job in attempts] == [1, 2]
    assert attempts[0].trace_parent == attempts[1].trace_parent != ""
    (cycle,) = receiver.named("collection.cycle")
    jobs = receiver.named("backfill.job")
    assert sorted(str(s.attributes["backfill.result"]) for s in jobs) == ["processed", "retried"]
    assert all(s.parent_id == cycle.span_id and s.trace_id == cycle.trace_id for s in jobs)
