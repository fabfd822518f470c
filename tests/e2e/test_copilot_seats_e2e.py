"""Copilot seats end to end: real client and collector, then `once` and `serve`, against the simulator's truth.

Every gh_copilot_seat* series must equal `seats_truth` exactly (orgs and the enterprise, with per-user
series); unchanged pages answer 304 and cost neither budget nor a rewrite; time moving shifts the
buckets; failures are counted and reported to health, never published half-done.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from tests.support.copilot_e2e import service_config as copilot_service_config
from tests.support.health import HealthStates

from github_stats_exporter import app, metrics
from github_stats_exporter.config import Settings
from github_stats_exporter.exposition import Format
from github_stats_exporter.github.auth import TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.health import FoldedHealth
from github_stats_exporter.scrape.copilot_map import LabelPolicy
from github_stats_exporter.scrape.copilot_seats import SeatOptions, SeatsCollector, snapshot_key
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.copilot_seats_truth import SEAT_FAMILIES, seats_truth
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import EnterpriseSpec, OrgSpec, WorldSpec
from github_stats_exporter.store.memory import MemorySnapshotStore

pytestmark = pytest.mark.e2e

START = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
DAY = 86400.0
ORG_APP = 11
ENTERPRISE = "ent"
ORG_TOKEN, ENT_TOKEN = "ghp_seat_orgs", "ghp_seat_enterprise"
TruthKey = tuple[str, tuple[tuple[str, str], ...]]


def world() -> WorldSpec:
    return WorldSpec(
        seed=11,
        orgs=(
            OrgSpec("acme", repos=1, users=14, app_id=ORG_APP, installation_id=21, special_repos=False),
            OrgSpec("globex", repos=1, users=9, app_id=ORG_APP, installation_id=22, special_repos=False),
        ),
        enterprise=EnterpriseSpec(ENTERPRISE, app_id=13, installation_id=23, orgs=("acme", "globex")),
        start=START,
        commits_per_day=1.0,
        prs_per_day=1.0,
    )


@dataclass
class Env:
    sim: Simulator
    clock: SimClock
    store: MemorySnapshotStore
    metrics: SelfMetrics
    health: HealthStates
    http: aiohttp.ClientSession
    clients: dict[str, GitHubClient] = field(default_factory=dict)

    def client(self, scope_id: str, token: str, max_pages: int = 100) -> GitHubClient:
        options = ClientOptions(
            base_url=self.sim.api_url, max_attempts=2, initial_backoff=0.0, max_pages=max_pages
        )
        return GitHubClient(
            options,
            TokenAuth(token),
            org=scope_id,
            metrics=self.metrics,
            session=self.http,
            clock=self.clock.now,
        )

    def collector(
        self, scope: str, scope_id: str, *, users: LabelPolicy | None = None, max_pages: int = 100
    ) -> SeatsCollector:
        token = ORG_TOKEN if scope == "org" else ENT_TOKEN
        return SeatsCollector(
            self.client(scope_id, token, max_pages),
            self.store,
            self.metrics,
            SeatOptions(scope, scope_id, 3600.0, users),  # type: ignore[arg-type]
            health=FoldedHealth(self.health),
            clock=self.clock.now,
        )

    async def series(self, scope: str, scope_id: str) -> dict[TruthKey, float]:
        key = snapshot_key(scope, scope_id)  # type: ignore[arg-type]
        snap = (await self.store.get_many([key]))[key]
        out = {(s.name, tuple(sorted(s.labels))): s.value for s in snap.samples}
        assert len(out) == len(snap.samples)
        return out

    async def version(self, scope: str, scope_id: str) -> int:
        key = snapshot_key(scope, scope_id)  # type: ignore[arg-type]
        return (await self.store.get_many([key]))[key].version

    def runs(self, scope: str, scope_id: str, result: str) -> float:
        labels = {"org": scope_id, "scope": scope, "result": result}
        return self.metrics.value(metrics.COPILOT_SEAT_COLLECTIONS, labels)


@contextlib.asynccontextmanager
async def open_env() -> AsyncIterator[Env]:
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim, aiohttp.ClientSession() as http:
        sim.add_token(ORG_TOKEN, ["acme", "globex"])
        sim.add_token(ENT_TOKEN, [], enterprise=ENTERPRISE)
        store = MemorySnapshotStore(clock=clock.now, retention_seconds=30 * DAY)
        yield Env(sim, clock, store, SelfMetrics(), HealthStates(), http)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with open_env() as environment:
        yield environment


@pytest.mark.parametrize(
    ("scope", "scope_id", "mode"),
    [
        pytest.param("org", "acme", "login", id="org-acme-login"),
        pytest.param("org", "globex", "id", id="org-globex-id"),
        pytest.param("enterprise", ENTERPRISE, "login", id="enterprise-login"),
        pytest.param("enterprise", ENTERPRISE, "none", id="enterprise-redacted"),
    ],
)
async def test_every_seat_series_equals_the_ground_truth(
    env: Env, scope: str, scope_id: str, mode: Any
) -> None:
    """One collection: the scope's snapshot holds exactly the truth's seat series, per-user ones included."""
    collector = env.collector(scope, scope_id, users=LabelPolicy(mode))
    assert await collector.tick()
    truth = seats_truth(env.sim.seats, scope, scope_id, START, include_users=True, user_mode=mode)  # type: ignore[arg-type]
    assert await env.series(scope, scope_id) == truth
    # Not vacuous: every family and every bucket is there, with seats in more than one bucket.
    assert {name for name, _ in truth} == set(SEAT_FAMILIES)
    buckets = {dict(k)["since"]: v for (n, k), v in truth.items() if n == "gh_copilot_seats_by_last_activity"}
    assert len([b for b, v in buckets.items() if v]) >= 3
    assert env.runs(scope, scope_id, "success") == 1
    assert env.health.states[collector.options.component] == (True, "")
    if scope == "enterprise":
        duplicates = env.metrics.value(
            metrics.COPILOT_SEAT_RECORDS_DROPPED, {"org": scope_id, "scope": scope, "reason": "duplicate"}
        )
        assert duplicates > 0  # the enterprise listing repeats users per grant


async def test_unchanged_pages_cost_no_budget_and_no_rewrite_until_the_buckets_move(env: Env) -> None:
    """Second pass: every request answers 304 and the snapshot is not rewritten; two days later the buckets
    move and it is; a revoked seat changes the pages (new ETags) and the counts."""
    collector = env.collector("org", "acme", users=LabelPolicy("login"))
    assert await collector.tick()
    first = await env.version("org", "acme")
    stats_before = env.sim.stats.total("copilot_billing_seats"), env.sim.stats.total("copilot_billing")
    hits = {"org": "acme", "endpoint": "copilot_billing_seats"}
    assert await collector.tick()
    assert await env.version("org", "acme") == first
    assert env.runs("org", "acme", "unchanged") == 1
    assert env.metrics.value(metrics.GITHUB_ETAG_HITS, hits) >= 1
    assert env.metrics.value(metrics.GITHUB_ETAG_HITS, {"org": "acme", "endpoint": "copilot_billing"}) == 1
    assert env.sim.stats.total("copilot_billing_seats") == stats_before[0] + 1

    env.clock.advance(2 * DAY)
    assert await collector.tick()
    assert await env.version("org", "acme") > first
    later = env.clock.now()
    assert await env.series("org", "acme") == seats_truth(
        env.sim.seats, "org", "acme", later, include_users=True
    )

    holder = next(
        s["assignee"]["login"]
        for s in env.sim.seats.org_seats("acme")
        if s["assignee"] and "login" in s["assignee"]
    )
    env.sim.seats.revoke("acme", holder)
    assert await collector.tick()
    after = await env.series("org", "acme")
    assert after == seats_truth(env.sim.seats, "org", "acme", later, include_users=True)
    assert (
        "gh_copilot_seat_last_activity_unixtime",
        (("org", "acme"), ("scope", "org"), ("user", holder)),
    ) not in after
    assert env.runs("org", "acme", "success") == 3


async def test_a_failure_is_counted_reported_and_keeps_the_last_census(env: Env) -> None:
    """A 500 after retries: fetch_error counted, the org's seat health unhealthy, the stored census kept."""
    collector = env.collector("org", "acme")
    assert await collector.tick()
    stored = await env.series("org", "acme")
    env.sim.faults.add(FaultRule("copilot_billing_seats", status=502))
    env.clock.advance(DAY)
    assert not await collector.tick()
    assert env.runs("org", "acme", "fetch_error") == 1
    healthy, detail = env.health.states["github_api_copilot_org_seats"]
    assert not healthy
    assert "acme" in detail
    assert await env.series("org", "acme") == stored
    env.sim.faults.clear()
    assert await collector.tick()
    assert env.health.states["github_api_copilot_org_seats"] == (True, "")


async def test_a_listing_cut_by_the_page_cap_is_not_published(env: Env) -> None:
    """More seats than max_pages can hold: nothing published, `truncated` counted, health says why."""
    seats = env.sim.seats.org_seats("acme")
    while len(seats) <= 100:
        seats.append(dict(seats[0], assignee=None))
    collector = env.collector("org", "acme", max_pages=1)
    assert not await collector.tick()
    assert env.runs("org", "acme", "truncated") == 1
    assert "max_pages" in env.health.states["github_api_copilot_org_seats"][1]
    key = snapshot_key("org", "acme")
    assert key not in await env.store.get_many([key])
    assert await env.collector("org", "acme", max_pages=2).tick()  # two pages of 100 hold them all


# --- through the service -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def org_keys() -> tuple[str, str]:
    return generate_key_pair()


def service_config(sim: Simulator, key_path: Path) -> Settings:
    return copilot_service_config(
        sim.api_url,
        key_path,
        {
            "include_seats": True,
            "include_seat_users": True,
            "user_label_mode": "login",
            "seats_interval": "1h",
        },
        enterprise_token=ENT_TOKEN,
    )


def seat_page(body: bytes) -> dict[TruthKey, float]:
    """Every gh_copilot_seat* sample of an OpenMetrics page, keyed like the truth."""
    out: dict[TruthKey, float] = {}
    for family in text_string_to_metric_families(body.decode()):  # type: ignore[no-untyped-call]
        for s in family.samples:
            if s.name.startswith("gh_copilot_seat"):
                key = (s.name, tuple(sorted(s.labels.items())))
                assert key not in out, f"duplicate series {key}"
                out[key] = s.value
    return out


def service_truth(sim: Simulator, now: float) -> dict[TruthKey, float]:
    truth: dict[TruthKey, float] = {}
    for scope, scope_id in (("org", "acme"), ("org", "globex"), ("enterprise", ENTERPRISE)):
        truth.update(seats_truth(sim.seats, scope, scope_id, now, include_users=True))  # type: ignore[arg-type]
    return truth


async def test_once_exports_every_seat_series_exactly(org_keys: tuple[str, str], tmp_path: Path) -> None:
    """`once` with include_seats (org Apps, an enterprise token): the page's seat series equal the truth."""
    key_path = tmp_path / "app.pem"
    key_path.write_text(org_keys[0])
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_app(ORG_APP, org_keys[1])
        sim.add_token(ENT_TOKEN, [], enterprise=ENTERPRISE)
        result = await app.once(service_config(sim, key_path), fmt=Format.OPENMETRICS, clock=clock.now)
        assert result.ok, result.failures
        truth = service_truth(sim, START)
    assert seat_page(result.body) == truth
    assert {name for name, _ in truth} == set(SEAT_FAMILIES)
    assert b'gh_exporter_collection_health{component="github_api_copilot_org_seats"} 1' in result.body
    assert b'gh_exporter_collection_health{component="github_api_copilot_enterprise_seats"} 1' in result.body


async def test_disabled_seats_ask_nothing(org_keys: tuple[str, str], tmp_path: Path) -> None:
    """include_seats off (the default): no seat series and no seat request."""
    key_path = tmp_path / "app.pem"
    key_path.write_text(org_keys[0])
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_app(ORG_APP, org_keys[1])
        settings = service_config(sim, key_path)
        off = settings.model_copy(
            update={"copilot": settings.copilot.model_copy(update={"include_seats": False})}
        )
        result = await app.once(off, fmt=Format.TEXT, clock=clock.now)
    assert b"gh_copilot_seat" not in result.body
    assert sim.stats.total("copilot_billing_seats") == 0
    assert sim.stats.total("copilot_billing") == 0


async def test_serve_exports_every_seat_series_exactly(org_keys: tuple[str, str], tmp_path: Path) -> None:
    """`serve` runs the seat jobs as leader and its /metrics carries exactly the truth's seat series."""
    key_path = tmp_path / "app.pem"
    key_path.write_text(org_keys[0])
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_app(ORG_APP, org_keys[1])
        sim.add_token(ENT_TOKEN, [], enterprise=ENTERPRISE)
        truth = service_truth(sim, START)
        stop = asyncio.Event()
        bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            app.serve(
                service_config(sim, key_path), stop=stop, on_listening=bound.set_result, clock=clock.now
            )
        )
        port = await asyncio.wait_for(bound, 10)
        page: dict[TruthKey, float] = {}
        headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                async with http.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as resp:
                    page = seat_page(await resp.read())
                if page == truth:
                    break
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert page == truth
