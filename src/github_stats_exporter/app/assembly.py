"""Builds a `Runtime` from `Settings`: every adapter, collector and job, registered for teardown."""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Callable

import aiohttp
import structlog

import github_stats_exporter
from github_stats_exporter.app.collection import add_copilot, add_org_collectors
from github_stats_exporter.app.recovery import add_backfill, add_backfill_workers
from github_stats_exporter.app.runtime import (
    Runtime,
    StartupError,
    build_store,
    client_options,
    initial_role,
    make_auth,
    snapshot_retention,
)
from github_stats_exporter.cluster_state import ClusterState
from github_stats_exporter.config import AppCredentials, Settings
from github_stats_exporter.exposition import ExpositionCache
from github_stats_exporter.github.auth import Auth
from github_stats_exporter.github.client import (
    GitHubClient,
    create_session,
)
from github_stats_exporter.health import Health
from github_stats_exporter.leader.identity import default_identity
from github_stats_exporter.metrics import BUILD_INFO, IS_LEADER
from github_stats_exporter.scrape.probe import GitHubProbe, InstallationHealth
from github_stats_exporter.scrape.scheduler import Job
from github_stats_exporter.telemetry import SelfMetrics

log = structlog.get_logger(__name__)


async def build_runtime(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    *,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    """Create every adapter; resources are registered on ``stack`` for teardown."""
    role = initial_role(settings)
    store = build_store(settings, clock)
    stack.push_async_callback(store.close)
    metrics = SelfMetrics()
    metrics.set(
        BUILD_INFO,
        {"version": github_stats_exporter.__version__, "python": platform.python_version()},
        1,
    )
    metrics.set(IS_LEADER, None, 1 if role == "leader" else 0)
    # With a shared store several replicas may answer scrapes: serve counters sealed per refresh
    # interval so every replica shows the same, never-decreasing totals.
    shared = settings.store.backend != "memory"
    epoch = settings.store.metric_refresh_interval.total_seconds() if shared else None
    cache = ExpositionCache(store, metrics, clock=clock, counter_epoch_seconds=epoch)
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
    queue = await add_backfill(runtime, stack, clock)
    add_org_collectors(runtime, clock)
    if settings.copilot.enabled:
        await add_copilot(runtime, stack, clock)
    if queue is not None:
        add_backfill_workers(runtime, queue, clock)
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
            leader_only=True,
        )
    )
    for name in settings.health.readiness_requires:
        if name not in runtime.health.names:
            msg = f"health.readiness_requires: {name!r} is not a component of this configuration"
            raise StartupError(msg)
        runtime.health.require(name)
    runtime.cluster_state = ClusterState(
        store,
        metrics,
        health,
        identity=default_identity(settings.leader_election.identity),
        # Rewritten at least this often so the snapshot never expires while a leader lives.
        rewrite_after_seconds=max(retention / 4, runtime.refresh_interval),
        clock=clock,
    )
    return runtime
