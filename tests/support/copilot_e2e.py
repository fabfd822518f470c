"""What the Copilot end-to-end tests share: a simulator with a token, collector parts, page parsing, `serve`.

`open_day_env` starts a simulator (frozen clock) with a token for two orgs and an enterprise, an HTTP
session and a report downloader; `DayEnv` builds clients and reads snapshots from its memory store.
`page_series` keys a page's samples like the simulator's truths; `serve_until` runs `app.serve` until its
/metrics (parsed by the caller) equals what the test expects, then stops it; `service_config` is the
settings of such a service (two App orgs, an enterprise on a token, the test's Copilot options).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from tests.support.health import HealthStates

from github_stats_exporter import app
from github_stats_exporter.config import Settings, parse_config
from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.copilot import ReportDownloader, download_hosts_for
from github_stats_exporter.model import SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import WorldSpec
from github_stats_exporter.store.memory import MemorySnapshotStore

TruthKey = tuple[str, tuple[tuple[str, str], ...]]
DAY = 86400.0
ORG_APP = 11
"""The App id of the two orgs ``acme`` (installation 21) and ``globex`` (installation 22)."""
ENTERPRISE = "ent"
ENTERPRISE_TOKEN_ENV = "GSE_E2E_ENT_TOKEN"
OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}


@dataclass
class DayEnv:
    """A running simulator and the parts a day-by-day collector takes."""

    sim: Simulator
    clock: SimClock
    store: MemorySnapshotStore
    metrics: SelfMetrics
    health: HealthStates
    http: aiohttp.ClientSession
    downloader: ReportDownloader
    token: str

    def client(self, scope_id: str) -> GitHubClient:
        options = ClientOptions(base_url=self.sim.api_url, max_attempts=2, initial_backoff=0.0)
        return GitHubClient(
            options,
            TokenAuth(self.token),
            org=scope_id,
            metrics=self.metrics,
            session=self.http,
            clock=self.clock.now,
        )

    async def series(self, key: SnapshotKey) -> dict[TruthKey, float]:
        """The snapshot's samples keyed like the truths (each label set once)."""
        snap = (await self.store.get_many([key]))[key]
        out = {(s.name, tuple(sorted(s.labels))): s.value for s in snap.samples}
        assert len(out) == len(snap.samples)
        return out

    def links(self) -> int:
        """Report-link requests the simulator answered so far."""
        return self.sim.stats.total("copilot_report_link")


E = TypeVar("E", bound=DayEnv)


@contextlib.asynccontextmanager
async def open_day_env(
    kind: type[E], world: WorldSpec, start: float, token: str, orgs: list[str], enterprise: str
) -> AsyncIterator[E]:
    """A ``kind`` (a `DayEnv` subclass with the test's helpers) over a started simulator."""
    clock = SimClock(frozen_at=start)
    async with Simulator(world, clock=clock) as sim, aiohttp.ClientSession() as http:
        sim.add_token(token, orgs, enterprise=enterprise)
        async with ReportDownloader(
            timeout=10.0, allowed_hosts=download_hosts_for(sim.api_url)
        ) as downloader:
            store = MemorySnapshotStore(clock=clock.now, retention_seconds=30 * DAY)
            yield kind(sim, clock, store, SelfMetrics(), HealthStates(), http, downloader, token)


def page_series(body: bytes, prefix: str) -> dict[TruthKey, float]:
    """Every sample of an OpenMetrics page whose name starts with ``prefix``, keyed like the truths."""
    out: dict[TruthKey, float] = {}
    for family in text_string_to_metric_families(body.decode()):  # type: ignore[no-untyped-call]
        for s in family.samples:
            if s.name.startswith(prefix):
                key = (s.name, tuple(sorted(s.labels.items())))
                assert key not in out, f"duplicate series {key}"
                out[key] = s.value
    return out


async def serve_until(
    settings: Settings,
    clock: Callable[[], float],
    expected: dict[TruthKey, float],
    parse: Callable[[bytes], dict[TruthKey, float]],
    *,
    polls: int = 200,
    every: float = 0.05,
) -> dict[TruthKey, float]:
    """Run `serve` until the parsed /metrics equals ``expected`` (or ``polls`` run out); the last page."""
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(app.serve(settings, stop=stop, on_listening=bound.set_result, clock=clock))
    page: dict[TruthKey, float] = {}
    try:
        port = await asyncio.wait_for(bound, 10)
        async with aiohttp.ClientSession() as http:
            for _ in range(polls):
                async with http.get(f"http://127.0.0.1:{port}/metrics", headers=OPENMETRICS) as resp:
                    page = parse(await resp.read())
                if page == expected:
                    break
                await asyncio.sleep(every)
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
    return page


def service_config(
    api_url: str,
    key_path: Path,
    copilot: Mapping[str, object],
    *,
    enterprise_token: str,
    enterprise: bool = True,
) -> Settings:
    """Settings of a service over the simulator: the orgs as Apps, the enterprise on a token, ``copilot`` options."""
    orgs = [
        {"org": org, "app_id": ORG_APP, "installation_id": inst, "private_key_path": str(key_path)}
        for org, inst in (("acme", 21), ("globex", 22))
    ]
    return parse_config(
        {
            "server": {"listen_addr": "127.0.0.1:0", "log_level": "warning"},
            "github": {"api_base_url": api_url, "orgs": orgs},
            "retry": {"max_attempts": 2, "initial_backoff": "10ms", "max_backoff": "20ms"},
            "health": {"github_probe_interval": "1h"},
            "copilot": {
                "enabled": True,
                "include_org_28d": False,
                **copilot,
                "enterprise": {"enabled": enterprise, "slug": ENTERPRISE, "token_env": ENTERPRISE_TOKEN_ENV},
            },
        },
        environ={ENTERPRISE_TOKEN_ENV: enterprise_token},
    )
