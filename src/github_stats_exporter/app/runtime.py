"""What a running exporter holds (`Runtime`) and the small builders: store, auth, client options.

No I/O at build time (stores connect lazily); no scheduling (see `lifecycle`)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

from github_stats_exporter.config import AppCredentials, Credentials, Settings
from github_stats_exporter.exposition import ExpositionCache
from github_stats_exporter.github.auth import AppAuth, Auth, TokenAuth
from github_stats_exporter.github.client import (
    ClientOptions,
    GitHubClient,
    default_user_agent,
)
from github_stats_exporter.health import Health
from github_stats_exporter.model import MissedWindow
from github_stats_exporter.scrape.activity import ActivityCollector
from github_stats_exporter.scrape.copilot import (
    CopilotCollector,
)
from github_stats_exporter.scrape.loc import LocCollector
from github_stats_exporter.scrape.probe import InstallationHealth
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.scrape.scheduler import Job
from github_stats_exporter.store.base import SnapshotStore
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.telemetry import SelfMetrics

log = structlog.get_logger(__name__)


MEMORY_REFRESH_SECONDS = 1.0
"""A local store costs nothing to poll, so the page follows new snapshots within a second."""


class StartupError(Exception):
    """The configuration asks for something this process cannot start (a clear message, exit 2)."""


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


def initial_role(settings: Settings) -> str:
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


def build_store(settings: Settings, clock: Callable[[], float]) -> SnapshotStore:
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


async def log_missed(missed: MissedWindow) -> None:
    """The sink when backfill is disabled: the window is logged (never dropped silently)."""
    log.warning(
        "missed_window",
        scope=missed.scope,
        scope_id=missed.scope_id,
        target=missed.target,
        reason=missed.reason,
    )
