"""What a running exporter holds (`Runtime` and its frozen parts) and the small builders: store, auth,
client options, elector.

No I/O at build time (stores connect lazily); no scheduling (see `lifecycle`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from github_stats_exporter.app.leadership import Leadership
from github_stats_exporter.app.units import UnitGate
from github_stats_exporter.backfill.base import JobQueue
from github_stats_exporter.cluster_state import ClusterState
from github_stats_exporter.config import AppCredentials, Credentials, Settings
from github_stats_exporter.errors import ExporterError
from github_stats_exporter.exposition import ExpositionCache, pack_snapshot
from github_stats_exporter.github.auth import AppAuth, Auth, TokenAuth
from github_stats_exporter.github.client import (
    ClientOptions,
    GitHubClient,
    default_user_agent,
)
from github_stats_exporter.github.etag import SharedResponses
from github_stats_exporter.github.ratelimit import RateLimitBudget, SharedBudget
from github_stats_exporter.health import Health
from github_stats_exporter.leader.base import Elector, UnitLeases
from github_stats_exporter.leader.identity import default_identity
from github_stats_exporter.leader.lease import LeaseTimings
from github_stats_exporter.leader.shards import ShardCoordinator
from github_stats_exporter.leader.static import StaticElector, role_from_environment
from github_stats_exporter.leader.units import WorkUnit
from github_stats_exporter.model import MissedWindow, Role
from github_stats_exporter.scrape.activity import ActivityCollector
from github_stats_exporter.scrape.copilot import (
    CopilotCollector,
)
from github_stats_exporter.scrape.copilot_repos import ReposCollector
from github_stats_exporter.scrape.copilot_seats import SeatsCollector
from github_stats_exporter.scrape.copilot_teams import TeamsCollector
from github_stats_exporter.scrape.loc import LocCollector
from github_stats_exporter.scrape.probe import InstallationHealth
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.scrape.scheduler import Job
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import Store
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.tracing import NO_TRACING, Tracing

if TYPE_CHECKING:
    from github_stats_exporter.leader.kubernetes import ApiServer

log = structlog.get_logger(__name__)


MEMORY_REFRESH_SECONDS = 1.0
"""A local store costs nothing to poll, so the page follows new snapshots within a second."""


class StartupError(ExporterError):
    """The configuration asks for something this process cannot start (a clear message, exit 2)."""

    transient = False


Service = Callable[[], Coroutine[Any, Any, None]]
"""A long-running loop started by `serve` on every replica (queue connection, backfill workers)."""

MissedSink = Callable[[MissedWindow], Awaitable[None]]
"""Where collectors record work they could not finish: the backfill dispatcher, or a log line."""


@dataclass(frozen=True, slots=True)
class Core:
    """What every other part needs: settings, clock, the store and what serves `/metrics`."""

    settings: Settings
    clock: Callable[[], float]
    store: Store
    metrics: SelfMetrics
    health: Health
    cache: ExpositionCache
    cluster_state: ClusterState
    refresh_interval: float
    tracing: Tracing = NO_TRACING
    units: UnitGate | None = None
    """The work units this replica holds; None in ``leader_election.mode: single``."""


@dataclass(frozen=True, slots=True)
class GitHubAccess:
    """One client per org (sharing that org's token cache and session), and the installations' health."""

    clients: Mapping[str, GitHubClient]
    auths: Mapping[str, Auth]
    sessions: Mapping[str, aiohttp.ClientSession]
    tracker: InstallationHealth
    probe_job: Job


@dataclass(frozen=True, slots=True)
class Recovery:
    """Backfill: where missed work goes and what runs it. Without backfill, ``queue`` is None."""

    missed: MissedSink
    queue: JobQueue | None = None
    jobs: tuple[Job, ...] = ()
    services: Mapping[str, Service] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Collectors:
    """Every collector by its scope (built on every replica: backfill workers call them) and their jobs."""

    activity: Mapping[str, ActivityCollector]
    loc: Mapping[str, LocCollector]
    directories: Mapping[str, RepoDirectory]
    copilot: Mapping[tuple[str, str], CopilotCollector]
    jobs: tuple[Job, ...]
    seats: Mapping[tuple[str, str], SeatsCollector] = field(default_factory=dict)
    teams: Mapping[tuple[str, str], TeamsCollector] = field(default_factory=dict)
    repos: Mapping[tuple[str, str], ReposCollector] = field(default_factory=dict)
    units: tuple[WorkUnit, ...] = ()
    """The work units of sharded collection the jobs belong to (empty in single mode)."""


@dataclass(frozen=True, slots=True)
class Runtime:
    """A built exporter: its immutable parts, every periodic job and service, and its `Leadership`.

    Built by `assembly.build_runtime`, whose signatures force the order: collectors need the
    `Recovery` sink, backfill workers need the `Collectors`.
    """

    core: Core
    github: GitHubAccess
    recovery: Recovery
    collectors: Collectors
    leadership: Leadership
    jobs: tuple[Job, ...]
    services: Mapping[str, Service]
    coordinator: ShardCoordinator | None = None
    """Keeps this replica's work units leased in sharded mode; None in single mode."""

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def store(self) -> Store:
        return self.core.store

    @property
    def metrics(self) -> SelfMetrics:
        return self.core.metrics

    @property
    def health(self) -> Health:
        return self.core.health

    @property
    def cache(self) -> ExpositionCache:
        return self.core.cache

    @property
    def role(self) -> Role:
        return self.leadership.role

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader


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
        etag_cache_entries=gh.etag_cache_entries,
        api_version=gh.api_version,
        user_agent=gh.user_agent or default_user_agent(),
    )


def rate_limit_budget(
    core: Core, options: ClientOptions, creds: Credentials, name: str
) -> RateLimitBudget | None:
    """The budget of one installation, shared through a Redis store; None keeps the client's own.

    Every replica calling GitHub for an installation draws from one budget (followers run backfill
    jobs, shards collect in parallel), so with a shared store they trade it (docs/scaling.md).
    """
    if core.settings.store.backend != "redis":
        return None
    scope = f"installation:{creds.installation_id}" if isinstance(creds, AppCredentials) else f"token:{name}"
    return RateLimitBudget(
        min_remaining_threshold=options.min_remaining_threshold,
        min_reset_buffer=options.min_reset_buffer,
        max_wait=options.max_wait,
        clock=core.clock,
        shared=SharedBudget(core.store, scope),
    )


def shared_responses(core: Core, creds: Credentials, name: str) -> SharedResponses | None:
    """The org's ETag entries kept in a Redis store for every replica; None keeps them per process.

    A replica that takes over a unit (sharded), a new leader (single) and every shard unit listing
    the org then ask with the validators the cluster last saw (docs/scaling.md, "Shared ETags").
    """
    gh = core.settings.github
    if core.settings.store.backend != "redis" or not gh.share_etags:
        return None
    who = f"installation:{creds.installation_id}" if isinstance(creds, AppCredentials) else "token"
    return SharedResponses(core.store, f"{name.lower()}:{who}", gh.shared_etag_ttl.total_seconds())


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


def initial_role(settings: Settings) -> Role:
    """The role before the elector speaks: follower under leader election, else the static role."""
    if settings.leader_election.enabled:
        return Role.FOLLOWER
    return Role.LEADER if role_from_environment() else Role.FOLLOWER


def host_port(addr: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets allowed) as a pair; the config already validated the shape."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def lease_timings(settings: Settings) -> LeaseTimings:
    cfg = settings.leader_election
    return LeaseTimings(
        cfg.lease_duration.total_seconds(),
        cfg.renew_deadline.total_seconds(),
        cfg.retry_period.total_seconds(),
    )


def kubernetes_api(settings: Settings) -> ApiServer:
    """The API server of the Kubernetes backend: ``kubernetes_api_url``, else the pod's in-cluster one."""
    from github_stats_exporter.leader.kubernetes import ApiServer, ElectorSetupError

    url = settings.leader_election.kubernetes_api_url
    if url:
        return ApiServer(url)
    try:
        return ApiServer.in_cluster()
    except ElectorSetupError as exc:
        # Refuse rather than lead statically: two replicas that both believe they lead double the
        # GitHub budget spend (the Go exporter's silent static-leader fallback, docs/leader_election.md).
        raise StartupError(str(exc)) from exc


def build_unit_leases(
    settings: Settings, store: Store, stack: contextlib.AsyncExitStack, units: Iterable[str] = ()
) -> UnitLeases:
    """Where sharded collection's membership and unit leases live: Kubernetes Leases or the store's Redis.

    The fencing epochs stay in the store either way (docs/scaling.md). On Redis, coordination (leases,
    membership, fence raises) gets a client and connection pool of its own, on the same server and key
    prefix: a round never queues behind the collectors' store traffic (docs/scaling.md, "Cost of a round").
    """
    cfg = settings.leader_election
    coordination = store
    if settings.store.backend != "memory":
        coordination = build_store(settings, time.time)
        stack.push_async_callback(coordination.close)
    if cfg.backend != "kubernetes":
        return coordination
    from github_stats_exporter.leader.kubernetes_units import KubernetesUnitLeases

    leases = KubernetesUnitLeases(
        kubernetes_api(settings),
        namespace=cfg.namespace,
        group=cfg.lease_name,
        fences=coordination,
        units=units,
    )
    stack.push_async_callback(leases.close)
    return leases


def build_elector(settings: Settings, metrics: SelfMetrics) -> Elector:
    """Static role without leader election; a Kubernetes Lease or a Redis lease elector with it."""
    cfg = settings.leader_election
    identity = default_identity(cfg.identity)
    if not cfg.enabled:
        return StaticElector(role_from_environment(), identity=identity, metrics=metrics)
    timings = LeaseTimings(
        cfg.lease_duration.total_seconds(),
        cfg.renew_deadline.total_seconds(),
        cfg.retry_period.total_seconds(),
    )
    if cfg.backend == "kubernetes":
        from github_stats_exporter.leader.kubernetes import KubernetesElector

        return KubernetesElector(
            namespace=cfg.namespace,
            lease_name=cfg.lease_name,
            identity=identity,
            timings=timings,
            metrics=metrics,
            api=kubernetes_api(settings),
        )
    # Imported only when chosen, so a memory-only run never loads redis.
    from github_stats_exporter.leader.redis import RedisElector

    st = settings.store
    if st.redis_mode == "sentinel":
        return RedisElector.sentinel(
            [host_port(a) for a in st.redis_sentinel_addrs],
            st.redis_master_set,
            password=st.resolved_redis_password,
            db=st.redis_db,
            key_prefix=st.key_prefix,
            lease_name=cfg.lease_name,
            identity=identity,
            timings=timings,
            metrics=metrics,
        )
    host, port = host_port(st.redis_addr)
    return RedisElector.standalone(
        host,
        port,
        password=st.resolved_redis_password,
        db=st.redis_db,
        key_prefix=st.key_prefix,
        lease_name=cfg.lease_name,
        identity=identity,
        timings=timings,
        metrics=metrics,
    )


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
        if settings.copilot.include_seats:
            # An unchanged seat census is rewritten at least daily (scrape/copilot_seats.py).
            floor = max(floor, 2 * settings.copilot.seats_interval.total_seconds())
    return max(settings.store.retention.total_seconds(), floor)


def build_store(settings: Settings, clock: Callable[[], float]) -> Store:
    """The configured store; both backends keep snapshots for the same `snapshot_retention`.

    Both store each snapshot's encoded exposition fragments with it (the writer encodes once), so every
    replica's page refresh concatenates instead of decoding and encoding (docs/architecture.md).
    """
    cfg = settings.store
    retention = snapshot_retention(settings)
    if cfg.backend == "memory":
        return MemorySnapshotStore(
            clock=clock,
            max_series_budget=cfg.max_series_budget,
            retention_seconds=retention,
            fragments=pack_snapshot,
        )
    # Imported here so a memory-only run never imports redis. Building the store does not connect:
    # with Redis down the process starts not-ready and the refresh job retries; it never falls back to
    # memory (replicas would serve different data).
    from github_stats_exporter.store.redis import RedisSnapshotStore

    password, db = cfg.resolved_redis_password, cfg.redis_db
    if cfg.redis_mode == "sentinel":
        return RedisSnapshotStore.sentinel(
            [host_port(addr) for addr in cfg.redis_sentinel_addrs],
            cfg.redis_master_set,
            password=password,
            db=db,
            key_prefix=cfg.key_prefix,
            retention_seconds=retention,
            max_series_budget=cfg.max_series_budget,
            fragments=pack_snapshot,
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
        fragments=pack_snapshot,
    )
