"""The in-process activity benchmarks' shared set-up: a simulator world and one collector per org.

The simulator (frozen clock, no added latency, no rate limit to speak of) serves ``orgs`` x ``repos``
repositories with ``history_days`` of history; each org gets a real `GitHubClient` on one shared
session and an `ActivityCollector` writing into a real redis-server through `RedisSnapshotStore`, as
``serve`` does; the serve benchmarks take its world spec and `serve` config. It measures nothing
(`run_on_redis` prints only the banner it is given): the benchmarks do.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from tests.support.redis_server import RedisProcess

from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.model import MissedWindow
from github_stats_exporter.scrape.activity import ActivityCollector
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.store.base import CollectionStore
from github_stats_exporter.store.redis import RedisSnapshotStore

START = 1_780_000_000.0
TOKEN = "ghp_benchmark"  # noqa: S105 - a simulator-only token
CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class ActivityWorld:
    """What a benchmark drives: the simulator, its clock, and each org's client and collector."""

    sim: Simulator
    clock: SimClock
    clients: tuple[GitHubClient, ...]
    collectors: tuple[ActivityCollector, ...]


def org_names(count: int) -> list[str]:
    return [f"org{i:02d}" for i in range(count)]


def world_spec(orgs: int, repos: int, history_days: int, *, start: float = START) -> WorldSpec:
    """``orgs`` orgs (`org_names`) of ``repos`` repositories each, one App installation per org."""
    return WorldSpec(
        seed=7,
        orgs=tuple(
            OrgSpec(o, repos=repos, users=40, app_id=11, installation_id=100 + i)
            for i, o in enumerate(org_names(orgs))
        ),
        start=start,
        history_days=history_days,
        future_days=1,
    )


async def _ignore(window: MissedWindow) -> None:
    return None


async def _no_sleep(seconds: float) -> None:
    return None


def activity_collector(
    client: GitHubClient, store: CollectionStore, org: str, clock: SimClock, *, concurrency: int = CONCURRENCY
) -> ActivityCollector:
    """An org's collector as ``serve`` builds it: every repository, ``concurrency`` at once, misses ignored."""
    directory = RepoDirectory(client, org, allowlist=["*"], include_archived=False)
    return ActivityCollector(
        client,
        directory,
        store,
        org=org,
        concurrency=concurrency,
        metrics=SelfMetrics(),
        missed=_ignore,
        clock=clock.now,
    )


def world_client(
    sim: Simulator,
    session: aiohttp.ClientSession,
    org: str,
    clock: SimClock,
    *,
    etag_cache_entries: int = 10_000,
) -> GitHubClient:
    """A `GitHubClient` of ``org`` on the simulator's token and clock, never sleeping between retries."""
    options = ClientOptions(
        base_url=sim.api_url, initial_backoff=0.01, jitter=False, etag_cache_entries=etag_cache_entries
    )
    return GitHubClient(
        options,
        TokenAuth(TOKEN),
        org=org,
        metrics=SelfMetrics(),
        session=session,
        sleep=_no_sleep,
        clock=clock.now,
    )


def run_on_redis(run: Callable[[RedisProcess], Coroutine[Any, Any, None]], banner: str) -> None:
    """Print ``banner`` and run ``run`` against a fresh redis-server in a temporary directory."""
    with tempfile.TemporaryDirectory() as raw:
        redis = RedisProcess(Path(raw) / "redis").start()
        try:
            print(banner)
            asyncio.run(run(redis))
        finally:
            redis.stop()


def app_key(tmp: Path) -> tuple[Path, str]:
    """A fresh App key pair: the private key written to ``tmp/app.pem`` for `serve`, and the public one."""
    private, public = generate_key_pair()
    key = tmp / "app.pem"
    key.write_text(private)
    return key, public


def serve_config(
    sim: Simulator,
    key: Path,
    redis_port: int,
    *,
    orgs: int,
    port: int,
    interval: float,
    mode: str = "single",
    shards: int = 1,
    identity: str = "r0",
    lease: float = 30.0,
) -> dict[str, Any]:
    """A `serve` config on the simulator's App for ``orgs`` orgs, Redis store and Redis leases.

    ``renew_deadline`` is 2/3 of ``lease``, ``retry_period`` 1/8 of it.
    """
    org = {"app_id": 11, "private_key_path": str(key), "scrape_interval": f"{interval}s", "shards": shards}
    return {
        "server": {"listen_addr": f"127.0.0.1:{port}", "log_level": "warning"},
        "github": {
            "api_base_url": sim.api_url,
            "orgs": [{"org": o, "installation_id": 100 + i, **org} for i, o in enumerate(org_names(orgs))],
        },
        "health": {"github_probe_interval": "1h"},
        "leader_election": {
            "enabled": True,
            "backend": "redis",
            "mode": mode,
            "identity": identity,
            "lease_duration": f"{lease}s",
            "renew_deadline": f"{lease * 2 / 3:.3f}s",
            "retry_period": f"{lease / 8:.3f}s",
        },
        "store": {"backend": "redis", "redis_addr": f"127.0.0.1:{redis_port}", "key_prefix": "bench"},
    }


@asynccontextmanager
async def activity_world(
    redis: RedisProcess, *, key_prefix: str, orgs: int, repos: int, history_days: int
) -> AsyncIterator[ActivityWorld]:
    names = org_names(orgs)
    spec = world_spec(orgs, repos, history_days)
    clock = SimClock(frozen_at=START)
    store = RedisSnapshotStore.standalone("127.0.0.1", redis.port, key_prefix=key_prefix)
    async with (
        Simulator(spec, clock=clock, prewarm=True, rate_limit=10**9) as sim,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2 * CONCURRENCY)) as session,
        store,
    ):
        sim.add_token(TOKEN, names)
        clients, collectors = [], []
        for org in names:
            client = world_client(sim, session, org, clock)
            clients.append(client)
            collectors.append(activity_collector(client, store, org, clock))
        yield ActivityWorld(sim, clock, tuple(clients), tuple(collectors))
