"""Wires backfill: the queue (memory or RabbitMQ), the dispatcher as the missed-window sink, workers.

aio-pika is imported only when `amqp` is configured."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import structlog

from github_stats_exporter.app.runtime import Runtime
from github_stats_exporter.backfill.base import JobQueue
from github_stats_exporter.backfill.dispatcher import Dispatcher
from github_stats_exporter.backfill.handlers import CollectorHandlers
from github_stats_exporter.backfill.memory import MemoryJobQueue
from github_stats_exporter.backfill.worker import BackfillWorker, QueueMonitor
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.scrape.scheduler import Job

log = structlog.get_logger(__name__)


async def add_backfill(
    runtime: Runtime, stack: contextlib.AsyncExitStack, clock: Callable[[], float]
) -> JobQueue | None:
    """The queue (memory or RabbitMQ), the dispatcher as the collectors' missed-window sink, its jobs."""
    bf, amqp = runtime.settings.backfill, runtime.settings.amqp
    if not bf.enabled:
        return None
    delays = tuple(d.total_seconds() for d in bf.requeue_delays)
    queue: JobQueue
    # RabbitMQ needs url and exchange (Go's rule); a half-set pair was accepted by the config and is
    # logged once at start as a config_warning (`config.inert`), so here it simply means memory.
    if amqp.enabled:
        # Imported only when configured, so a memory-only run never loads aio-pika.
        from github_stats_exporter.backfill.rabbitmq import RabbitMQJobQueue

        rabbit = RabbitMQJobQueue(
            amqp.resolved_url,
            exchange=amqp.exchange,
            queue=amqp.queue,
            dlq=amqp.dlq,
            requeue_delays=delays,
            prefetch=1,
        )
        # Connects (and reconnects) in the background: a broker outage never blocks serving /metrics.
        runtime.services["amqp_connection"] = rabbit.run
        queue = rabbit
    else:
        queue = MemoryJobQueue(queue=amqp.queue, dlq=amqp.dlq, clock=clock)
    stack.push_async_callback(queue.close)
    dispatcher = Dispatcher(
        queue,
        runtime.store,
        runtime.metrics,
        coalesce_window=bf.coalesce_window.total_seconds(),
        dedup_ttl=bf.dedup_ttl.total_seconds(),
        max_per_org_per_minute=bf.max_enqueues_per_org_per_minute,
        max_message_age=bf.max_message_age.total_seconds(),
        clock=clock,
    )
    runtime.missed = dispatcher.record
    runtime.jobs.append(Job("backfill_sweep", 15.0, dispatcher.sweep, timeout=60.0, leader_only=True))
    runtime.health.register("amqp" if amqp.enabled else "backfill_queue", required_for_ready=False)
    component = "amqp" if amqp.enabled else "backfill_queue"
    monitor = QueueMonitor(
        queue, runtime.metrics, lambda ok, detail: runtime.health.set(component, ok, detail)
    )
    runtime.jobs.append(Job("backfill_queue_monitor", 30.0, monitor.tick, timeout=15.0))
    return queue


def add_backfill_workers(runtime: Runtime, queue: JobQueue, clock: Callable[[], float]) -> None:
    """Route jobs to the collectors (built on every replica) and run consumer_count consumers everywhere."""

    def lister(directory: RepoDirectory) -> Callable[[], Awaitable[list[str]]]:
        async def names() -> list[str]:
            return [repo.name for repo in await directory.repos()]

        return names

    bf = runtime.settings.backfill
    handlers = CollectorHandlers(
        activity=runtime.activity,
        loc=runtime.loc,
        copilot=runtime.copilot,
        repos={org: lister(d) for org, d in runtime.directories.items()},
    )
    worker = BackfillWorker(
        queue,
        handlers.registry(),
        runtime.store,
        runtime.metrics,
        requeue_delays=tuple(d.total_seconds() for d in bf.requeue_delays),
        max_message_age=bf.max_message_age.total_seconds(),
        clock=clock,
    )
    for i in range(runtime.settings.backfill.consumer_count):
        runtime.services[f"backfill_worker_{i}"] = worker.run
