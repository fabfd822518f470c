"""Builds a `Runtime` from `Settings`: every adapter, collector and job, registered for teardown.

Each `build_*` function takes the parts it needs and returns a frozen part, so the order of
construction is forced by the signatures (collectors need the backfill sink; workers need the
collectors)."""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Callable

import aiohttp
import structlog

import github_stats_exporter
from github_stats_exporter.app.collection import build_collectors
from github_stats_exporter.app.leadership import Leadership
from github_stats_exporter.app.recovery import build_recovery, build_workers
from github_stats_exporter.app.runtime import (
    MEMORY_REFRESH_SECONDS,
    Core,
    GitHubAccess,
    Runtime,
    StartupError,
    build_store,
    build_unit_leases,
    client_options,
    initial_role,
    lease_timings,
    make_auth,
    rate_limit_budget,
    shared_responses,
    snapshot_retention,
)
from github_stats_exporter.app.units import UnitGate
from github_stats_exporter.cluster_counters import ClusterCounters
from github_stats_exporter.cluster_state import ClusterState
from github_stats_exporter.config import AppCredentials, OrgConfig, Settings
from github_stats_exporter.exposition import ExpositionCache
from github_stats_exporter.github.auth import Auth
from github_stats_exporter.github.client import (
    GitHubClient,
    create_session,
)
from github_stats_exporter.health import Health
from github_stats_exporter.leader.identity import default_identity
from github_stats_exporter.leader.shards import ShardCoordinator
from github_stats_exporter.metrics import BUILD_INFO, STORE_SERIES_BUDGET
from github_stats_exporter.scrape.probe import GitHubProbe, InstallationHealth
from github_stats_exporter.scrape.scheduler import Job
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import Store
from github_stats_exporter.store.traced import TracedStore
from github_stats_exporter.tracing import start_tracing

log = structlog.get_logger(__name__)


async def build_runtime(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    *,
    clock: Callable[[], float] = time.time,
) -> Runtime:
    """Create every part in dependency order; resources are registered on ``stack`` for teardown."""
    core = build_core(settings, stack, clock)
    github = build_github(core, stack)
    recovery = await build_recovery(core, stack)
    collectors = await build_collectors(core, github, recovery.missed, stack)
    workers = build_workers(core, recovery, collectors)
    leadership = Leadership(initial_role(settings), core.health, core.metrics, core.cluster_state)
    for name in settings.health.readiness_requires:
        if name not in core.health.names:
            msg = f"health.readiness_requires: {name!r} is not a component of this configuration"
            raise StartupError(msg)
        core.health.require(name)
    jobs = (github.probe_job, *recovery.jobs, *collectors.jobs, gc_job(core))
    services = {**recovery.services, **workers}
    coordinator = None
    if core.units is not None:
        shards = ShardCoordinator(
            build_unit_leases(settings, core.store, stack, [unit.name for unit in collectors.units]),
            identity=default_identity(settings.leader_election.identity),
            units=collectors.units,
            timings=lease_timings(settings),
            on_view=core.units.view,
        )
        # A replica killed without leaving drops out of the merged collector state with its membership.
        core.cluster_state.follow_members(lambda: shards.members)
        coordinator = shards
    return Runtime(core, github, recovery, collectors, leadership, jobs, services, coordinator)


def build_core(settings: Settings, stack: contextlib.AsyncExitStack, clock: Callable[[], float]) -> Core:
    """Tracing, store, self-metrics, health, the page cache and the cluster-state publisher."""
    # Started first so it is closed last: every span has ended when its buffer is flushed.
    tracing = start_tracing(settings.telemetry, service_version=github_stats_exporter.__version__)
    stack.push_async_callback(tracing.close)
    store: Store = build_store(settings, clock)
    stack.push_async_callback(store.close)
    if tracing.enabled:
        store = TracedStore(store, tracing)
    metrics = SelfMetrics()
    metrics.set(
        BUILD_INFO,
        {"version": github_stats_exporter.__version__, "python": platform.python_version()},
        1,
    )
    metrics.set(STORE_SERIES_BUDGET, None, settings.store.max_series_budget)
    # With a shared store several replicas may answer scrapes: serve counters sealed per refresh
    # interval so every replica shows the same, never-decreasing totals.
    shared = settings.store.backend != "memory"
    refresh = settings.store.metric_refresh_interval.total_seconds() if shared else MEMORY_REFRESH_SECONDS
    counters = ClusterCounters(store, metrics, epoch_seconds=refresh if shared else None, clock=clock)
    cache = ExpositionCache(store, metrics, counters=counters, clock=clock)
    health = Health(lambda: cache.ready, metrics, clock=clock)
    # Readiness already needs one rendered page; after that a store outage degrades health while the
    # replica keeps serving its last good page (a Redis blink must not empty the Service).
    health.register("store", required_for_ready=False)
    retention = snapshot_retention(settings)
    if retention > settings.store.retention.total_seconds():
        log.info(
            "retention_raised", configured_seconds=settings.store.retention.total_seconds(), seconds=retention
        )
    sharded = settings.leader_election.mode == "sharded"
    cluster_state = ClusterState(
        store,
        metrics,
        health,
        identity=default_identity(settings.leader_election.identity),
        # Rewritten at least this often so the snapshot never expires while a leader lives.
        rewrite_after_seconds=max(retention / 4, refresh),
        clock=clock,
        # Sharded: every replica's part; a dead replica's part is gone a few refreshes after it.
        parts=store if sharded else None,
        part_ttl_seconds=max(3 * refresh, settings.leader_election.lease_duration.total_seconds()),
    )
    units = None
    if sharded:
        units = UnitGate(
            health,
            metrics,
            default_identity(settings.leader_election.identity),
            on_lost=cluster_state.units_lost,
        )
    return Core(settings, clock, store, metrics, health, cache, cluster_state, refresh, tracing, units)


def org_connections(org_cfg: OrgConfig, *, sharded: bool) -> int:
    """How many connections the org's HTTP session may open.

    Each unit of an org runs ``per_org_concurrency`` requests at once and one replica may hold every
    shard of the org, so there is room for all of them plus as many again for the org's other
    collectors (LOC, Copilot, backfill); fewer would queue a unit's requests behind another's
    (docs/scaling.md, "When to shard, and how many shards").
    """
    units = org_cfg.shards if sharded else 1
    return max(4, org_cfg.per_org_concurrency * (units + 1))


def build_github(core: Core, stack: contextlib.AsyncExitStack) -> GitHubAccess:
    """One session, token source and client per org, the installations' health and the probe job."""
    settings, clock = core.settings, core.clock
    options = client_options(settings)
    clients: dict[str, GitHubClient] = {}
    auths: dict[str, Auth] = {}
    sessions: dict[str, aiohttp.ClientSession] = {}
    sharded = settings.leader_election.mode == "sharded"
    for org_cfg in settings.github.orgs:
        session = create_session(options, max_connections=org_connections(org_cfg, sharded=sharded))
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
            metrics=core.metrics,
            session=session,
            clock=clock,
            budget=rate_limit_budget(core, options, creds, org_cfg.org),
            tracing=core.tracing,
            shared=shared_responses(core, creds, org_cfg.org),
        )
        # Before the store closes (the stack unwinds in reverse): the last shared ETags are written.
        stack.push_async_callback(clients[org_cfg.org].aclose)
    tracker = InstallationHealth(
        list(clients),
        failure_threshold=settings.github.unhealthy_failure_threshold,
        recover_threshold=settings.health.github_recover_success_threshold,
        cooldown=settings.github.unhealthy_cooldown.total_seconds(),
        clock=clock,
    )
    core.health.register("github_api_core", required_for_ready=False)
    probe = GitHubProbe(clients, tracker)

    async def probe_tick() -> bool:
        ok = await probe.tick()
        healthy, detail = tracker.summary()
        core.health.set("github_api_core", healthy, detail)
        return ok

    probe_job = Job(
        "github_probe",
        settings.health.github_probe_interval.total_seconds(),
        probe_tick,
        timeout=settings.github.request_timeout.total_seconds() * 2 * max(1, len(clients)),
        jitter=0.1,
    )
    return GitHubAccess(clients, auths, sessions, tracker, probe_job)


def gc_job(core: Core) -> Job:
    """Retention/GC is the leader's job only, so replicas never race each other over expiry."""
    retention = snapshot_retention(core.settings)

    async def gc_tick() -> bool:
        removed = await core.store.gc(core.clock())
        if removed:
            log.info("store_gc", removed=removed)
        return True

    return Job("store_gc", min(max(retention / 4, 60.0), 3600.0), gc_tick, jitter=0.1, leader_only=True)
