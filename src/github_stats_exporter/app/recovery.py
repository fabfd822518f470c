"""Builds backfill: the queue (memory or RabbitMQ), the dispatcher as the missed-window sink, workers.

Without backfill the sink logs each missed window (`log_missed`). aio-pika is imported only when
`amqp` is configured."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import structlog

from github_stats_exporter.app.runtime import Collectors, Core, Recovery, Service
from github_stats_exporter.backfill.base import JobQueue
from github_stats_exporter.backfill.dispatcher import Dispatcher
from github_stats_exporter.backfill.handlers import CollectorHandlers
from github_stats_exporter.backfill.memory import MemoryJobQueue
from github_stats_exporter.backfill.worker import BackfillWorker, QueueMonitor
from github_stats_exporter.model import MissedWindow
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.scrape.scheduler import Job

log = structlog.get_logger(__name__)


async def build_recovery(core: Core, stack: contextlib.AsyncExitStack) -> Recovery:
    """The queue (memory or RabbitMQ), the dispatcher as the collectors' missed-window sink, its jobs."""
    bf, amqp, clock = core.settings.backfill, core.settings.amqp, core.clock
    if not bf.enabled:
        return Recovery(log_missed)
    delays = tuple(d.total_seconds() for d in bf.requeue_delays)
    services: dict[str, Service] = {}
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
        services["amqp_connection"] = rabbit.run
        queue = rabbit
    else:
        queue = MemoryJobQueue(queue=amqp.queue, dlq=amqp.dlq, clock=clock)
    stack.push_async_callback(queue.close)
    dispatcher = Dispatcher(
        queue,
        core.store,
        core.metrics,
        coalesce_window=bf.coalesce_window.total_seconds(),
        dedup_ttl=bf.dedup_ttl.total_seconds(),
        max_per_org_per_minute=bf.max_enqueues_per_org_per_minute,
        max_message_age=bf.max_message_age.total_seconds(),
        clock=clock,
        tracing=core.tracing,
    )
    component = "amqp" if amqp.enabled else "backfill_queue"
    core.health.register(component, required_for_ready=False)
    monitor = QueueMonitor(queue, core.metrics, lambda ok, detail: core.health.set(component, ok, detail))
    jobs = (
        Job("backfill_sweep", 15.0, dispatcher.sweep, timeout=60.0, leader_only=True),
        Job("backfill_queue_monitor", 30.0, monitor.tick, timeout=15.0),
    )
    return Recovery(dispatcher.record, queue, jobs, services)


def build_workers(core: Core, recovery: Recovery, collectors: Collectors) -> dict[str, Service]:
    """Route jobs to the collectors (built on every replica) and run consumer_count consumers everywhere."""
    if recovery.queue is None:
        return {}

    def lister(directory: RepoDirectory) -> Callable[[], Awaitable[list[str]]]:
        async def names() -> list[str]:
            return [repo.name for repo in await directory.repos()]

        return names

    bf = core.settings.backfill
    handlers = CollectorHandlers(
        activity=dict(collectors.activity),
        loc=dict(collectors.loc),
        copilot=dict(collectors.copilot),
        repos={org: lister(d) for org, d in collectors.directories.items()},
    )
    worker = BackfillWorker(
        recovery.queue,
        handlers.registry(),
        core.store,
        core.metrics,
        requeue_delays=tuple(d.total_seconds() for d in bf.requeue_delays),
        max_message_age=bf.max_message_age.total_seconds(),
        clock=core.clock,
        tracing=core.tracing,
    )
    return {f"backfill_worker_{i}": worker.run for i in range(bf.consumer_count)}


async def log_missed(missed: MissedWindow) -> None:
    """The sink when backfill is disabled: the window is logged (never dropped silently)."""
    log.warning(
        "missed_window",
        scope=missed.scope,
        scope_id=missed.scope_id,
        target=missed.target,
        reason=missed.reason,
    )
