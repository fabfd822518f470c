"""Composition root: builds every adapter from `Settings`, owns the one task group, handles signals.

Only this module knows concrete classes. It wires; it does not collect, render or decide health rules.
Lifecycle: resources are entered on one `AsyncExitStack` (closed in reverse order); services run as
tasks of one `TaskGroup`; SIGTERM/SIGINT → readiness false → services cancelled → exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import platform
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

import github_stats_exporter
from github_stats_exporter.backfill.base import JobQueue
from github_stats_exporter.backfill.dispatcher import Dispatcher
from github_stats_exporter.backfill.handlers import CollectorHandlers
from github_stats_exporter.backfill.memory import MemoryJobQueue
from github_stats_exporter.backfill.worker import BackfillWorker, QueueMonitor
from github_stats_exporter.config import AppCredentials, Credentials, Settings
from github_stats_exporter.exposition import ExpositionCache, Format
from github_stats_exporter.github.auth import AppAuth, Auth, TokenAuth
from github_stats_exporter.github.client import (
    ClientOptions,
    GitHubClient,
    create_session,
    default_user_agent,
)
from github_stats_exporter.github.copilot import ReportDownloader, ReportType, Scope, download_hosts_for
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import BUILD_INFO, IS_LEADER, SCRAPE_RUNS
from github_stats_exporter.model import MissedWindow
from github_stats_exporter.scrape.activity import ActivityCollector
from github_stats_exporter.scrape.copilot import (
    CopilotCollector,
    CopilotHealth,
    CopilotOptions,
    components_for,
)
from github_stats_exporter.scrape.copilot_map import Dimension, LabelPolicy, MapOptions
from github_stats_exporter.scrape.loc import LocCollector
from github_stats_exporter.scrape.probe import GitHubProbe, InstallationHealth
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.scrape.scheduler import Job, run_periodic, run_tick
from github_stats_exporter.server import HttpServer, build_app, parse_listen_addr
from github_stats_exporter.store.base import SnapshotStore, StoreError
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.telemetry import SelfMetrics

log = structlog.get_logger(__name__)

MEMORY_REFRESH_SECONDS = 1.0
"""A local store costs nothing to poll, so the page follows new snapshots within a second."""


ONCE_SETTLE_SECONDS = 120.0
"""How long `once` waits for contributor statistics that GitHub is still computing."""


class StartupError(Exception):
    """The configuration asks for something this process cannot start (a clear message, exit 2)."""


class Shutdown(Exception):
    """Raised inside the task group to stop every service (asyncio.TaskGroup has no cancel())."""


@dataclass
class Runtime:
    """Everything a running exporter holds; built by `build_runtime`, used by `serve` and `once`."""

    settings: Settings
    store: SnapshotStore
    metrics: SelfMetrics
    health: Health
    cache: ExpositionCache
    clients: dict[str, GitHubClient]
    tracker: InstallationHealth
    role: str
    jobs: list[Job] = field(default_factory=list)
    refresh_interval: float = MEMORY_REFRESH_SECONDS
    activity: dict[str, ActivityCollector] = field(default_factory=dict)
    loc: dict[str, LocCollector] = field(default_factory=dict)
    directories: dict[str, RepoDirectory] = field(default_factory=dict)
    copilot: dict[tuple[str, str], CopilotCollector] = field(default_factory=dict)
    auths: dict[str, Auth] = field(default_factory=dict)
    sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)
    missed: Callable[[MissedWindow], Awaitable[None]] | None = None
    services: dict[str, Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=dict)
    """Long-running loops started by `serve` on every replica (queue connection, backfill workers)."""

    @property
    def is_leader(self) -> bool:
        return self.role == "leader"


def client_options(settings: Settings) -> ClientOptions:
    gh, rl, retry = settings.github, settings.rate_limit, settings.retry
    return ClientOptions(
        base_url=gh.api_base_url,
        request_timeout=gh.request_timeout.total_seconds(),
        max_attempts=retry.max_attempts,
        initial_backoff=retry.initial_backoff.total_seconds(),
        max_backoff=retry.max_backoff.total_seconds(),
        jitter=retry.jitter,
        min_remaining_threshold=rl.min_remaining_threshold,
        min_reset_buffer=rl.min_reset_buffer.total_seconds(),
        secondary_limit_backoff=rl.secondary_limit_backoff.total_seconds(),
        max_wait=rl.max_wait.total_seconds(),
        max_pages=gh.max_pages,
        api_version=gh.api_version,
        user_agent=gh.user_agent or default_user_agent(),
    )


def make_auth(
    creds: Credentials, options: ClientOptions, session: aiohttp.ClientSession, clock: Callable[[], float]
) -> Auth:
    """An installation token source for App credentials, or the static token."""
    if isinstance(creds, AppCredentials):
        return AppAuth(
            creds.app_id,
            creds.installation_id,
            creds.private_key_pem,
            api_base_url=options.base_url,
            session=session,
            clock=clock,
            user_agent=options.user_agent,
            api_version=options.api_version,
            request_timeout=options.request_timeout,
        )
    return TokenAuth(creds.token)


def _initial_role(settings: Settings) -> str:
    if settings.leader_election.enabled:
        # Refuse rather than pretend: two replicas that both believe they lead would double the
        # GitHub budget spend (the Go exporter's silent static-leader fallback, study §1.1 step 7).
        msg = (
            "leader_election.enabled: true needs the Kubernetes Lease elector, which this version does "
            "not include yet; run one replica with leader_election.enabled: false"
        )
        raise StartupError(msg)
    role = os.environ.get("GITHUB_STATS_INITIAL_ROLE", "leader").strip().lower()
    return "follower" if role == "follower" else "leader"


def snapshot_retention(settings: Settings) -> float:
    """Seconds a snapshot lives after its last write.

    Collectors rewrite a snapshot only when its content changes (an unchanged LOC week or Copilot
    report is not rewritten), so a retention shorter than the slowest refresh would expire live
    data. The configured ``store.retention`` is therefore raised to cover two refreshes of every
    source, and to two days when Copilot is on (reports appear once a day, sometimes late).
    """
    floor = 2 * settings.loc.refresh_interval.total_seconds()
    floor = max(floor, *(3 * o.scrape_interval.total_seconds() for o in settings.github.orgs))
    if settings.copilot.enabled:
        floor = max(floor, 2 * settings.copilot.scrape_interval.total_seconds(), 2 * 86400.0)
    return max(settings.store.retention.total_seconds(), floor)


def _build_store(settings: Settings, clock: Callable[[], float]) -> SnapshotStore:
    cfg = settings.store
    if cfg.backend == "memory":
        return MemorySnapshotStore(
            clock=clock,
            max_series_budget=cfg.max_series_budget,
            retention_seconds=cfg.retention.total_seconds(),
        )
    # Imported here so a memory-only run never imports redis. Building the store does not connect:
    # with Redis down the process starts not-ready and the refresh job retries; it never falls back to
    # memory (study §10.3 #26: replicas would serve different data).
    from github_stats_exporter.store.redis import RedisSnapshotStore

    def host_port(addr: str) -> tuple[str, int]:
        host, _, port = addr.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    password, db = cfg.resolved_redis_password, cfg.redis_db
    retention = snapshot_retention(settings)
    if cfg.redis_mode == "sentinel":
        return RedisSnapshotStore.sentinel(
            [host_port(addr) for addr in cfg.redis_sentinel_addrs],
            cfg.redis_master_set,
            password=password,
            db=db,
            key_prefix=cfg.key_prefix,
            retention_seconds=retention,
            max_series_budget=cfg.max_series_budget,
        )
    host, port = host_port(cfg.redis_addr)
    return RedisSnapshotStore.standalone(
        host,
        port,
        password=password,
        db=db,
        key_prefix=cfg.key_prefix,
        retention_seconds=retention,
        max_series_budget=cfg.max_series_budget,
    )


async def build_runtime(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    *,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    """Create every adapter; resources are registered on ``stack`` for teardown."""
    role = _initial_role(settings)
    store = _build_store(settings, clock)
    stack.push_async_callback(store.close)
    metrics = SelfMetrics()
    metrics.set(
        BUILD_INFO,
        {"version": github_stats_exporter.__version__, "python": platform.python_version()},
        1,
    )
    metrics.set(IS_LEADER, None, 1 if role == "leader" else 0)
    cache = ExpositionCache(store, metrics, clock=clock)
    health = Health(lambda: cache.ready, metrics, clock=clock)
    health.role = "leader" if role == "leader" else "follower"
    # Readiness already needs one rendered page; after that a store outage degrades health while the
    # replica keeps serving its last good page (a Redis blink must not empty the Service).
    health.register("store", required_for_ready=False)
    health.register("github_api_core", required_for_ready=False)

    options = client_options(settings)
    clients: dict[str, GitHubClient] = {}
    auths: dict[str, Auth] = {}
    sessions: dict[str, aiohttp.ClientSession] = {}
    for org_cfg in settings.github.orgs:
        session = create_session(options, max_connections=max(4, org_cfg.per_org_concurrency * 2))
        stack.push_async_callback(session.close)
        creds = org_cfg.credentials
        auth = make_auth(creds, options, session, clock)
        installation_id = str(creds.installation_id) if isinstance(creds, AppCredentials) else ""
        auths[org_cfg.org], sessions[org_cfg.org] = auth, session
        clients[org_cfg.org] = GitHubClient(
            options,
            auth,
            org=org_cfg.org,
            installation_id=installation_id,
            metrics=metrics,
            session=session,
            clock=clock,
        )

    tracker = InstallationHealth(
        list(clients),
        failure_threshold=settings.github.unhealthy_failure_threshold,
        recover_threshold=settings.health.github_recover_success_threshold,
        cooldown=settings.github.unhealthy_cooldown.total_seconds(),
        clock=clock,
    )
    runtime = Runtime(settings, store, metrics, health, cache, clients, tracker, role)
    runtime.auths, runtime.sessions = auths, sessions
    if settings.store.backend != "memory":
        runtime.refresh_interval = settings.store.metric_refresh_interval.total_seconds()

    probe = GitHubProbe(clients, tracker)

    async def probe_tick() -> bool:
        ok = await probe.tick()
        healthy, detail = tracker.summary()
        health.set("github_api_core", healthy, detail)
        return ok

    runtime.jobs.append(
        Job(
            "github_probe",
            settings.health.github_probe_interval.total_seconds(),
            probe_tick,
            timeout=settings.github.request_timeout.total_seconds() * 2 * max(1, len(clients)),
            jitter=0.1,
        )
    )
    queue = await _add_backfill(runtime, stack, clock)
    _add_org_collectors(runtime, clock)
    if settings.copilot.enabled:
        await _add_copilot(runtime, stack, clock)
    if queue is not None:
        _add_backfill_workers(runtime, queue, clock)
    retention = snapshot_retention(settings)
    if retention > settings.store.retention.total_seconds():
        log.info(
            "retention_raised", configured_seconds=settings.store.retention.total_seconds(), seconds=retention
        )

    async def gc_tick() -> bool:
        removed = await store.gc(clock())
        if removed:
            log.info("store_gc", removed=removed)
        return True

    # Retention/GC is the leader's job only, so replicas never race each other over expiry.
    runtime.jobs.append(
        Job(
            "store_gc",
            min(max(retention / 4, 60.0), 3600.0),
            gc_tick,
            jitter=0.1,
            gate=lambda: runtime.is_leader,
        )
    )
    return runtime


async def log_missed(missed: MissedWindow) -> None:
    """The sink when backfill is disabled: the window is logged (never dropped silently)."""
    log.warning(
        "missed_window",
        scope=missed.scope,
        scope_id=missed.scope_id,
        target=missed.target,
        reason=missed.reason,
    )


def _add_org_collectors(runtime: Runtime, clock: Callable[[], float]) -> None:
    """Per org: repo discovery shared by the activity and LOC collectors, and one leader-only cycle job."""
    settings, health = runtime.settings, runtime.health
    for org_cfg in settings.github.orgs:
        org = org_cfg.org
        client = runtime.clients[org]
        directory = RepoDirectory(
            client, org, allowlist=org_cfg.repo_allowlist, include_archived=org_cfg.include_archived
        )
        activity_component, loc_component = f"activity:{org}", f"loc:{org}"
        health.register(activity_component, required_for_ready=False)
        health.register(loc_component, required_for_ready=False)

        def report(ok: bool, detail: str, name: str = activity_component) -> None:
            health.set(name, ok, detail)

        activity = ActivityCollector(
            client,
            directory,
            runtime.store,
            org=org,
            concurrency=org_cfg.per_org_concurrency,
            metrics=runtime.metrics,
            missed=runtime.missed or log_missed,
            clock=clock,
            report=report,
        )
        loc = LocCollector(
            client,
            directory,
            runtime.store,
            org=org,
            settings=settings.loc,
            concurrency=org_cfg.per_org_concurrency,
            metrics=runtime.metrics,
            missed=runtime.missed or log_missed,
            clock=clock,
        )
        runtime.activity[org], runtime.loc[org] = activity, loc
        runtime.directories[org] = directory
        interval = org_cfg.scrape_interval.total_seconds()
        runtime.jobs.append(
            Job(
                f"org_cycle:{org}",
                interval,
                _org_cycle(runtime, org, activity, loc, loc_component),
                # The LOC tick re-polls 202s inside the tick (2+4+8 s), so leave room beyond one interval.
                timeout=max(interval * 3, 120.0),
                jitter=0.05,
                gate=lambda: runtime.is_leader,
            )
        )


def _org_cycle(
    runtime: Runtime, org: str, activity: ActivityCollector, loc: LocCollector, loc_component: str
) -> Callable[[], Awaitable[bool]]:
    async def tick() -> bool:
        if runtime.tracker.in_cooldown(org):
            # Nothing is lost by skipping: the ledgers continue from their checkpoints next cycle.
            runtime.metrics.inc(SCRAPE_RUNS, {"org": org, "result": "skipped_unhealthy"})
            return False
        activity_ok = await activity.tick()
        loc_ok = await loc.tick()
        failed = sorted(loc.failed)
        runtime.health.set(loc_component, not failed, f"failed: {', '.join(failed)}" if failed else "")
        return activity_ok and loc_ok

    return tick


async def _add_copilot(
    runtime: Runtime, stack: contextlib.AsyncExitStack, clock: Callable[[], float]
) -> None:
    """Copilot report collectors: one per org with org reports enabled, one for the enterprise."""
    settings = runtime.settings
    cp, options = settings.copilot, client_options(settings)
    downloader = await stack.enter_async_context(
        ReportDownloader(
            timeout=cp.download_timeout.total_seconds(),
            allowed_hosts=download_hosts_for(options.base_url),
            user_agent=options.user_agent,
        )
    )
    # Link calls get copilot.request_timeout (the Go exporter capped them at github.request_timeout).
    link_options = dataclasses.replace(options, request_timeout=cp.request_timeout.total_seconds())
    breakdowns: tuple[Dimension, ...] = ("ide", "feature", "language", "model")
    mapping = MapOptions(
        labels=LabelPolicy(cp.user_label_mode, cp.hash_key, cp.emit_day_label),
        breakdowns=frozenset(d for d in breakdowns if getattr(cp, f"include_breakdown_{d}")),
        include_pull_requests=cp.include_pull_request_activity,
        max_records=cp.max_records_per_report,
        max_users=cp.max_users_per_report,
    )
    copilot_health = CopilotHealth(runtime.health.set)
    registered: set[str] = set()

    def add(scope: Scope, scope_id: str, reports: tuple[ReportType, ...], client: GitHubClient) -> None:
        opts = CopilotOptions(
            scope,
            scope_id,
            reports,
            cp.scrape_interval.total_seconds(),
            mapping,
            refresh_if_unchanged=cp.refresh_if_report_unchanged,
            download_attempts=settings.retry.max_attempts,
            backoff_seconds=settings.retry.initial_backoff.total_seconds(),
        )
        for name in components_for(opts.scope, opts.reports):
            if name not in registered:  # registering twice would reset a component's state
                runtime.health.register(name, required_for_ready=False)
                registered.add(name)
        collector = CopilotCollector(
            client,
            downloader,
            runtime.store,
            runtime.metrics,
            opts,
            record_missed=runtime.missed or log_missed,
            health=copilot_health,
            clock=clock,
        )
        runtime.copilot[scope, scope_id] = collector
        runtime.jobs.append(
            Job(
                f"copilot:{scope}:{scope_id}",
                opts.poll_seconds,
                collector.tick,
                timeout=3600.0,
                jitter=0.05,
                gate=lambda: runtime.is_leader,
            )
        )

    org_choice: list[tuple[ReportType, bool]] = [
        ("organization", cp.include_org_28d),
        ("users", cp.include_org_users_28d),
    ]
    org_reports = tuple(r for r, on in org_choice if on)
    if org_reports:
        for org_cfg in settings.github.orgs:
            org = org_cfg.org
            creds = org_cfg.credentials
            client = GitHubClient(
                link_options,
                runtime.auths[org],  # shares the org's token cache
                org=org,
                installation_id=str(creds.installation_id) if isinstance(creds, AppCredentials) else "",
                metrics=runtime.metrics,
                session=runtime.sessions[org],
                clock=clock,
                budget=runtime.clients[org].budget,
            )
            add("org", org, org_reports, client)
    ent = cp.enterprise
    ent_choice: list[tuple[ReportType, bool]] = [
        ("enterprise", cp.include_enterprise_28d),
        ("users", cp.include_enterprise_users_28d),
    ]
    ent_reports = tuple(r for r, on in ent_choice if on)
    if ent.enabled and ent_reports:
        session = create_session(link_options)
        stack.push_async_callback(session.close)
        creds = ent.credentials
        client = GitHubClient(
            link_options,
            make_auth(creds, link_options, session, clock),
            org=ent.slug,
            installation_id=str(creds.installation_id) if isinstance(creds, AppCredentials) else "",
            metrics=runtime.metrics,
            session=session,
            clock=clock,
        )
        add("enterprise", ent.slug, ent_reports, client)


async def _add_backfill(
    runtime: Runtime, stack: contextlib.AsyncExitStack, clock: Callable[[], float]
) -> JobQueue | None:
    """The queue (memory or RabbitMQ), the dispatcher as the collectors' missed-window sink, its jobs."""
    bf, amqp = runtime.settings.backfill, runtime.settings.amqp
    if not bf.enabled:
        return None
    delays = tuple(d.total_seconds() for d in bf.requeue_delays)
    queue: JobQueue
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
    runtime.jobs.append(
        Job("backfill_sweep", 15.0, dispatcher.sweep, timeout=60.0, gate=lambda: runtime.is_leader)
    )
    runtime.health.register("amqp" if amqp.enabled else "backfill_queue", required_for_ready=False)
    component = "amqp" if amqp.enabled else "backfill_queue"
    monitor = QueueMonitor(
        queue, runtime.metrics, lambda ok, detail: runtime.health.set(component, ok, detail)
    )
    runtime.jobs.append(Job("backfill_queue_monitor", 30.0, monitor.tick, timeout=15.0))
    return queue


def _add_backfill_workers(runtime: Runtime, queue: JobQueue, clock: Callable[[], float]) -> None:
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


async def refresh_cache(runtime: Runtime) -> bool:
    """Refresh the exposition cache once; a store failure keeps the last page and marks health."""
    try:
        await runtime.cache.refresh()
    except StoreError as exc:
        runtime.health.set("store", False, f"{type(exc).__name__}: {exc}")
        log.warning("exposition_refresh_failed", error=str(exc))
        return False
    runtime.health.set("store", True)
    return True


async def _wait_for_signal(stop: asyncio.Event, health: Health) -> None:
    await stop.wait()
    log.info("shutdown_requested")
    health.start_draining()
    raise Shutdown


def install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM/SIGINT set ``stop``; returns a function that removes the handlers again."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_listening: Callable[[int], Awaitable[None] | None] | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Run the exporter until ``stop`` is set (or SIGTERM/SIGINT arrives)."""
    stop = stop or asyncio.Event()
    remove_handlers = install_signal_handlers(stop)
    try:
        async with contextlib.AsyncExitStack() as stack:
            runtime = await build_runtime(settings, stack, clock=clock)
            for notice in settings.notices:
                log.info("config_notice", notice=notice)
            host, port = parse_listen_addr(settings.server.listen_addr)
            server = HttpServer(build_app(runtime.cache, runtime.health, runtime.metrics), host, port)
            bound = await server.start()
            stack.push_async_callback(server.stop)
            log.info("listening", host=host, port=bound, role=runtime.role, orgs=list(runtime.clients))
            if on_listening is not None:
                maybe = on_listening(bound)
                if maybe is not None:
                    await maybe
            await refresh_cache(runtime)
            refresher = Job("exposition_refresh", runtime.refresh_interval, lambda: refresh_cache(runtime))
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(_wait_for_signal(stop, runtime.health), name="signals")
                    tg.create_task(run_periodic(refresher), name=refresher.name)
                    for job in runtime.jobs:
                        tg.create_task(run_periodic(job), name=job.name)
                    for name, service in runtime.services.items():
                        tg.create_task(service(), name=name)
            except* Shutdown:
                log.info("stopped_cleanly")
    finally:
        remove_handlers()


@dataclass(frozen=True, slots=True)
class OnceResult:
    """What `once` produced: the exposition bytes and whether every source succeeded."""

    body: bytes
    ok: bool
    failures: tuple[str, ...]


async def once(
    settings: Settings, *, fmt: Format = Format.TEXT, clock: Callable[[], float] = time.time
) -> OnceResult:
    """One collection cycle of everything enabled, then render the page once."""
    async with contextlib.AsyncExitStack() as stack:
        runtime = await build_runtime(settings, stack, clock=clock)
        failures = [job.name for job in runtime.jobs if not await run_tick(job)]
        for org, loc in runtime.loc.items():
            # A single run should yield complete LOC: wait (bounded) for GitHub's 202 "computing" answers.
            if not await loc.settle(ONCE_SETTLE_SECONDS):
                failures.append(f"loc_settle:{org}")
        if not await refresh_cache(runtime):
            failures.append("exposition_refresh")
        return OnceResult(runtime.cache.body(fmt), not failures, tuple(failures))
