"""Copilot usage end to end: real client, downloader and collector against the simulator's ground truth.

Every enabled report must produce exactly `copilot_truth`: every gh_copilot_* series with its value, and
nothing more; faults on the link endpoint or the download host must become backfill work that the 1-day
endpoints then recover.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import yaml
from tests.support.health import HealthStates

from github_stats_exporter import app, metrics
from github_stats_exporter.config import AppCredentials, CopilotConfig, Settings, parse_config
from github_stats_exporter.exposition import Format
from github_stats_exporter.github.auth import AppAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.copilot import ReportDownloader, ReportRef, ReportType, download_hosts_for
from github_stats_exporter.health import FoldedHealth
from github_stats_exporter.model import CopilotReason, DayWindow, JobKind, MissedWindow, Sample, SnapshotKey
from github_stats_exporter.scrape.copilot import (
    CopilotCollector,
    CopilotOptions,
    read_checkpoint,
)
from github_stats_exporter.scrape.copilot_map import LabelPolicy, MapOptions
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.copilot_truth import copilot_record_count, copilot_truth
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import EnterpriseSpec, OrgSpec, WorldSpec
from github_stats_exporter.store.memory import MemorySnapshotStore

pytestmark = pytest.mark.e2e

START = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
END_DAY = date(2026, 5, 26)  # newest complete report day (two days of lag)
ORG_REPORT = ReportRef("org", "acme", "organization")
ORG_APP, ENT_APP = 11, 13
ENTERPRISE = "ent"
DIMENSIONS = ("ide", "feature", "language", "model")
BREAKDOWN_LABELS = frozenset({*DIMENSIONS, "chat_mode"})
HASH_KEY = b"e2e-copilot-hash-key"
# The contract's Copilot usage families: aggregate reports have all of them, users reports the additive per-user ones
# (the gh_copilot_seat* families come from the seat API, tests/e2e/test_copilot_seats_e2e.py);
# ai_credits_used exists only in per-user rows.
AGGREGATE_FAMILIES = frozenset(
    name
    for name in metrics.FAMILIES
    if name.startswith("gh_copilot_usage_") and name != metrics.COPILOT_AI_CREDITS.name
)
USERS_FAMILIES = frozenset(
    spec.name
    for spec in (
        metrics.COPILOT_INTERACTIONS,
        metrics.COPILOT_CODE_GENERATION,
        metrics.COPILOT_CODE_ACCEPTANCE,
        metrics.COPILOT_LOC_SUGGESTED_ADD,
        metrics.COPILOT_LOC_SUGGESTED_DELETE,
        metrics.COPILOT_LOC_ADDED,
        metrics.COPILOT_LOC_DELETED,
        metrics.COPILOT_CLI_SESSIONS,
        metrics.COPILOT_CLI_REQUESTS,
        metrics.COPILOT_CLI_PROMPTS,
        metrics.COPILOT_CLI_OUTPUT_TOKENS,
        metrics.COPILOT_CLI_PROMPT_TOKENS,
        metrics.COPILOT_APP_SESSIONS,
        metrics.COPILOT_APP_REQUESTS,
        metrics.COPILOT_APP_PROMPTS,
        metrics.COPILOT_APP_OUTPUT_TOKENS,
        metrics.COPILOT_APP_PROMPT_TOKENS,
        metrics.COPILOT_VSCODE_AGENT_SESSIONS,
        metrics.COPILOT_VSCODE_AGENT_MESSAGES,
        metrics.COPILOT_AI_CREDITS,
        # Per user GitHub reports agent job starts but no agent sessions.
        metrics.COPILOT_THIRD_PARTY_AGENT_INTERACTIONS,
    )
)
MEDIANS = frozenset(spec.name for spec in metrics.COPILOT_PRS_MEDIANS)
TruthKey = tuple[str, tuple[tuple[str, str], ...]]
SCOPE_LABEL = {
    ("org", "organization"): "org",
    ("org", "users"): "users",
    ("enterprise", "enterprise"): "enterprise",
    ("enterprise", "users"): "enterprise_users",
}
SIM_REPORT = {"organization": "aggregate", "enterprise": "aggregate", "users": "users"}


def world() -> WorldSpec:
    return WorldSpec(
        seed=7,
        orgs=(
            OrgSpec("acme", repos=1, users=8, app_id=ORG_APP, installation_id=21, special_repos=False),
            OrgSpec("globex", repos=1, users=5, app_id=ORG_APP, installation_id=22, special_repos=False),
        ),
        enterprise=EnterpriseSpec(ENTERPRISE, app_id=ENT_APP, installation_id=23, orgs=("acme", "globex")),
        start=START,
        commits_per_day=1.0,
        prs_per_day=1.0,
    )


@pytest.fixture(scope="module")
def org_keys() -> tuple[str, str]:
    return generate_key_pair()


@pytest.fixture(scope="module")
def ent_keys() -> tuple[str, str]:
    return generate_key_pair()


def options_from_config(
    cfg: CopilotConfig, scope: str, scope_id: str, *, attempts: int = 2, backoff: float = 0.0
) -> CopilotOptions:
    """The mapping the composition root does from `copilot.*` to one collector's options."""
    breakdowns = frozenset(d for d in DIMENSIONS if getattr(cfg, f"include_breakdown_{d}"))
    if scope == "org":
        reports = tuple(
            r for r, on in (("organization", cfg.include_org_28d), ("users", cfg.include_org_users_28d)) if on
        )
    else:
        reports = tuple(
            r
            for r, on in (
                ("enterprise", cfg.include_enterprise_28d),
                ("users", cfg.include_enterprise_users_28d),
            )
            if on
        )
    return CopilotOptions(
        scope=scope,  # type: ignore[arg-type]
        scope_id=scope_id,
        reports=reports,  # type: ignore[arg-type]
        interval_seconds=cfg.scrape_interval.total_seconds(),
        mapping=MapOptions(
            labels=LabelPolicy(cfg.user_label_mode, cfg.hash_key, cfg.emit_day_label),
            breakdowns=breakdowns,  # type: ignore[arg-type]
            include_pull_requests=cfg.include_pull_request_activity,
            max_records=cfg.max_records_per_report,
            max_users=cfg.max_users_per_report,
        ),
        refresh_if_unchanged=cfg.refresh_if_report_unchanged,
        download_attempts=attempts,
        backoff_seconds=backoff,
    )


@dataclass
class Env:
    sim: Simulator
    clock: SimClock
    store: MemorySnapshotStore
    metrics: SelfMetrics
    session: aiohttp.ClientSession
    keys: dict[str, tuple[int, int, str]]
    downloader: ReportDownloader
    clients: dict[str, GitHubClient] = field(default_factory=dict)
    missed: list[MissedWindow] = field(default_factory=list)
    health: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def client(self, name: str) -> GitHubClient:
        # Built on first use: loading an RSA key costs ~90 ms, and most tests need one installation.
        if name not in self.clients:
            app_id, installation, pem = self.keys[name]
            auth = AppAuth(
                app_id,
                installation,
                pem,
                api_base_url=self.sim.api_url,
                session=self.session,
                clock=self.clock.now,
                user_agent="copilot-e2e",
                api_version="2022-11-28",
            )
            options = ClientOptions(
                base_url=self.sim.api_url, max_attempts=2, initial_backoff=0.001, jitter=False
            )
            self.clients[name] = GitHubClient(
                options,
                auth,
                org=name,
                metrics=self.metrics,
                session=self.session,
                clock=self.clock.now,
                sleep=_no_sleep,
            )
        return self.clients[name]

    def collector(self, scope: str, scope_id: str, **copilot: Any) -> CopilotCollector:
        cfg = CopilotConfig.model_validate({"enabled": True, **copilot})
        client = self.client(ENTERPRISE if scope == "enterprise" else scope_id)

        async def record(window: MissedWindow) -> None:
            self.missed.append(window)

        return CopilotCollector(
            client,
            self.downloader,
            self.store,
            self.metrics,
            options_from_config(cfg, scope, scope_id),
            record_missed=record,
            health=FoldedHealth(HealthStates(self.health)),
            clock=self.clock.now,
            sleep=_no_sleep,
        )

    async def samples(self, *parts: str) -> list[Sample]:
        key = SnapshotKey("copilot", parts)
        snapshot = (await self.store.get_many([key])).get(key)
        assert snapshot is not None, f"no snapshot {key}"
        return list(snapshot.samples)

    async def has(self, *parts: str) -> bool:
        key = SnapshotKey("copilot", parts)
        return key in await self.store.get_many([key])


async def _no_sleep(_: float) -> None:
    return None


@asynccontextmanager
async def open_env(
    spec: WorldSpec, org_keys: tuple[str, str], ent_keys: tuple[str, str]
) -> AsyncIterator[Env]:
    clock = SimClock(frozen_at=START)
    async with Simulator(spec, clock=clock) as sim, aiohttp.ClientSession() as session:
        sim.add_app(ORG_APP, org_keys[1])
        sim.add_app(ENT_APP, ent_keys[1])
        keys = {
            "acme": (ORG_APP, 21, org_keys[0]),
            "globex": (ORG_APP, 22, org_keys[0]),
            ENTERPRISE: (ENT_APP, 23, ent_keys[0]),
        }
        async with ReportDownloader(
            timeout=10.0, allowed_hosts=download_hosts_for(sim.api_url)
        ) as downloader:
            yield Env(
                sim, clock, MemorySnapshotStore(clock=clock.now), SelfMetrics(), session, keys, downloader
            )


@pytest.fixture
async def env(org_keys: tuple[str, str], ent_keys: tuple[str, str]) -> AsyncIterator[Env]:
    async with open_env(world(), org_keys, ent_keys) as opened:
        yield opened


def as_truth(samples: Iterable[Sample]) -> dict[TruthKey, float]:
    """Every sample keyed like the truth; a non-Copilot sample in a Copilot snapshot would be an extra key."""
    out: dict[TruthKey, float] = {}
    for sample in samples:
        key = (sample.name, tuple(sorted(sample.labels)))
        assert key not in out, f"duplicate series {key}"
        out[key] = sample.value
    return out


def truth(
    env: Env, scope: str, scope_id: str, report_type: str, window: str, day: date, **kw: Any
) -> dict[TruthKey, float]:
    return copilot_truth(env.sim.copilot, scope, scope_id, SIM_REPORT[report_type], window, day, **kw)  # type: ignore[arg-type]


REPORTS = [
    pytest.param("org", "acme", "organization", {"include_org_28d": True}, id="org-aggregate"),
    pytest.param(
        "org", "acme", "users", {"include_org_28d": False, "include_org_users_28d": True}, id="org-users"
    ),
    pytest.param(
        "enterprise",
        ENTERPRISE,
        "enterprise",
        {"include_org_28d": False, "include_enterprise_28d": True},
        id="enterprise-aggregate",
    ),
    pytest.param(
        "enterprise",
        ENTERPRISE,
        "users",
        {"include_org_28d": False, "include_enterprise_users_28d": True},
        id="enterprise-users",
    ),
]
ENTERPRISE_ON = {"enterprise": {"enabled": True, "slug": ENTERPRISE, "token_env": "UNUSED"}}


def report_config(scope: str, flags: dict[str, Any]) -> dict[str, Any]:
    # Secrets are not resolved by model_validate without a load context that asks for it; the enterprise
    # block only has to be "enabled" so the include_enterprise_* flags are not coerced to false.
    return {**flags, **(ENTERPRISE_ON if scope == "enterprise" else {})}


@pytest.mark.parametrize(("scope", "scope_id", "report_type", "flags"), REPORTS)
async def test_every_report_equals_the_ground_truth_for_both_windows(
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    scope: str,
    scope_id: str,
    report_type: str,
    flags: dict[str, Any],
) -> None:
    """Each of the four 28-day reports gives exactly copilot_truth (every family) for 28d and its newest day (1d)."""
    monkeypatch.setenv("UNUSED", "ghp_unused_token_value")
    collector = env.collector(scope, scope_id, **report_config(scope, flags))
    assert await collector.tick()
    for window in ("28d", "1d"):
        ours = as_truth(await env.samples(scope, scope_id, report_type, window))
        assert ours == truth(env, scope, scope_id, report_type, window, END_DAY)
    # Not vacuous: this world's reports have every family a report of its type can have (medians only
    # in the 1d view; a newest day with null cloud-agent counts has none of those, an earlier one has).
    families = {
        name
        for window in ("28d", "1d")
        for back in range(14)
        for name, _ in truth(env, scope, scope_id, report_type, window, END_DAY - timedelta(days=back))
    }
    assert families == (AGGREGATE_FAMILIES if report_type != "users" else USERS_FAMILIES)
    assert env.missed == []
    labels = {"org": scope_id, "scope": SCOPE_LABEL[scope, report_type]}
    assert env.metrics.value(metrics.COPILOT_SCRAPE_RUNS, {**labels, "result": "success"}) == 1
    # The collector's self-metrics with exact expected values.
    records = copilot_record_count(
        env.sim.copilot,
        scope,  # type: ignore[arg-type]
        scope_id,
        SIM_REPORT[report_type],  # type: ignore[arg-type]
        "28d",
        END_DAY,
    )
    assert env.metrics.value(metrics.COPILOT_RECORDS_PARSED, labels) == records > 0
    assert env.metrics.value(metrics.COPILOT_LAST_SUCCESS, labels) == START
    day_start = datetime.combine(END_DAY, datetime.min.time(), UTC).timestamp()
    assert env.metrics.value(metrics.COPILOT_REPORT_STALENESS, labels) == START - day_start
    dropped = [s for s in env.metrics.samples() if s.name == metrics.COPILOT_RECORDS_DROPPED.name]
    assert dropped == []


@pytest.mark.parametrize(("scope", "scope_id", "report_type", "flags"), [REPORTS[1], REPORTS[3]])
async def test_a_28_day_users_report_of_whole_window_rows_sums_the_same(
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    scope: str,
    scope_id: str,
    report_type: str,
    flags: dict[str, Any],
) -> None:
    """One row per user (no day) instead of one per user and day: the 28d view equals the truth of those
    rows and the per-day report's truth; the 1d view is empty (the rows hold no newest day)."""
    monkeypatch.setenv("UNUSED", "ghp_unused_token_value")
    per_day = truth(env, scope, scope_id, report_type, "28d", END_DAY)
    env.sim.copilot.users_28d_shape = "per_user"
    rows = env.sim.copilot.report_rows(scope, scope_id, "users", "28d", END_DAY)  # type: ignore[arg-type]
    assert rows
    assert all("day" not in row for row in rows)
    assert len({row["user_login"] for row in rows}) == len(rows)
    collector = env.collector(scope, scope_id, **report_config(scope, flags))
    assert await collector.tick()
    ours = as_truth(await env.samples(scope, scope_id, report_type, "28d"))
    assert ours == truth(env, scope, scope_id, report_type, "28d", END_DAY)
    assert ours == pytest.approx(per_day)  # AI credits are floats: summed in another order
    assert ours.keys() == per_day.keys()
    assert await env.samples(scope, scope_id, report_type, "1d") == []


@pytest.mark.parametrize("user_mode", ["id", "hashed", "none"])
async def test_user_label_modes_match_the_truth(
    env: Env, monkeypatch: pytest.MonkeyPatch, user_mode: str
) -> None:
    """user_label_mode id, hashed and none (all users summed into "redacted") give the truth for those modes."""
    monkeypatch.setenv("COPILOT_HASH_KEY", HASH_KEY.decode())
    collector = env.collector(
        "org",
        "acme",
        include_org_28d=False,
        include_org_users_28d=True,
        user_label_mode=user_mode,
        user_label_hash_key_env="COPILOT_HASH_KEY" if user_mode == "hashed" else "",
    )
    assert await collector.tick()
    for window in ("28d", "1d"):
        ours = as_truth(await env.samples("org", "acme", "users", window))
        assert ours == truth(
            env, "org", "acme", "users", window, END_DAY, user_mode=user_mode, hash_key=HASH_KEY
        )


async def test_without_pull_request_activity_there_are_no_pull_request_series(env: Env) -> None:
    """include_pull_request_activity: false drops every gh_copilot_usage_pull_requests_* series."""
    collector = env.collector("org", "acme", include_pull_request_activity=False)
    assert await collector.tick()
    samples = await env.samples("org", "acme", "organization", "28d")
    assert as_truth(samples) == truth(env, "org", "acme", "organization", "28d", END_DAY, include_pr=False)
    assert not [s for s in samples if s.name.startswith("gh_copilot_usage_pull_requests_")]


@pytest.mark.parametrize(("scope", "scope_id", "report_type", "flags"), REPORTS)
async def test_breakdowns_equal_the_breakdown_truth_one_dimension_per_series(
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    scope: str,
    scope_id: str,
    report_type: str,
    flags: dict[str, Any],
) -> None:
    """With every include_breakdown_* on, both windows equal the truth with all breakdowns (and chat_mode)."""
    monkeypatch.setenv("UNUSED", "ghp_unused_token_value")
    on = {f"include_breakdown_{d}": True for d in DIMENSIONS}
    collector = env.collector(scope, scope_id, **report_config(scope, flags), **on)
    assert await collector.tick()
    for window in ("28d", "1d"):
        samples = await env.samples(scope, scope_id, report_type, window)
        expected = truth(env, scope, scope_id, report_type, window, END_DAY, breakdowns=DIMENSIONS)
        assert as_truth(samples) == expected, window
        # Never a cross product: at most one breakdown label per series.
        assert all(len({k for k, _ in s.labels} & BREAKDOWN_LABELS) <= 1 for s in samples)
    samples = await env.samples(scope, scope_id, report_type, "28d")
    assert {label for s in samples for label, _ in s.labels} >= BREAKDOWN_LABELS
    chat_modes = {s.label("chat_mode") for s in samples if s.label("chat_mode")}
    assert chat_modes
    assert chat_modes <= {"ask", "edit", "agent", "plan", "custom", "unknown"}


async def test_day_labels_split_the_window_into_days_that_equal_each_days_report(env: Env) -> None:
    """emit_day_label: both views equal the day-labelled truth, and each day of the window its 1-day report."""
    collector = env.collector("org", "acme", emit_day_label=True)
    assert await collector.tick()
    samples = await env.samples("org", "acme", "organization", "28d")
    assert as_truth(samples) == truth(env, "org", "acme", "organization", "28d", END_DAY, emit_day=True)
    newest = await env.samples("org", "acme", "organization", "1d", END_DAY.isoformat())
    assert as_truth(newest) == truth(env, "org", "acme", "organization", "1d", END_DAY, emit_day=True)
    by_day: dict[str, list[Sample]] = {}
    for sample in samples:
        day = sample.label("day")
        assert day is not None
        by_day.setdefault(day, []).append(sample)
    assert len(by_day) == 28
    for day_text in (END_DAY.isoformat(), (END_DAY - timedelta(days=9)).isoformat()):
        relabelled = [
            Sample(
                s.name, tuple((k, "1d" if k == "window" else v) for k, v in s.labels if k != "day"), s.value
            )
            for s in by_day[day_text]
        ]
        # The pull-request medians belong to the window="1d" view only (docs/metrics.md).
        one_day = truth(env, "org", "acme", "organization", "1d", date.fromisoformat(day_text))
        assert as_truth(relabelled) == {k: v for k, v in one_day.items() if k[0] not in MEDIANS}


async def test_downloads_never_carry_authorization_and_every_link_is_fetched(env: Env) -> None:
    """Multi-link reports are downloaded link by link, and the download host never saw an Authorization header."""
    collector = env.collector("org", "acme", include_org_users_28d=True)
    assert await collector.tick()
    stats = env.sim.stats.requests
    links = stats["copilot_report_link", 200]
    assert links == 2
    assert stats["copilot_report_download", 200] >= 3  # the users report is sharded over several files
    assert stats["copilot_report_download", 400] == 0  # 400 = "only one auth mechanism allowed"
    assert env.sim.stats.downloads == stats["copilot_report_download", 200]


async def test_interval_and_unchanged_gates_save_requests(env: Env) -> None:
    """Within the interval nothing is requested; after it an unchanged report costs one link call and no download."""
    collector = env.collector("org", "acme", scrape_interval="1h")
    assert await collector.tick()
    assert await collector.tick()
    assert env.sim.stats.total("copilot_report_link") == 1
    labels = {"org": "acme", "scope": "org"}
    assert env.metrics.value(metrics.COPILOT_SCRAPE_RUNS, {**labels, "result": "skipped_interval"}) == 1
    env.clock.advance(3 * 3600)  # still the same report day
    downloads = env.sim.stats.downloads
    assert await collector.tick()
    assert env.sim.stats.total("copilot_report_link") == 2
    assert env.sim.stats.downloads == downloads
    assert env.metrics.value(metrics.COPILOT_SCRAPE_RUNS, {**labels, "result": "skipped_unchanged"}) == 1
    env.clock.advance(86400)  # a new day: the report rolls forward
    assert await collector.tick()
    assert env.sim.stats.downloads > downloads
    new_end = END_DAY + timedelta(days=1)
    ours = as_truth(await env.samples("org", "acme", "organization", "28d"))
    assert ours == truth(env, "org", "acme", "organization", "28d", new_end)
    staleness = env.metrics.value(metrics.COPILOT_REPORT_STALENESS, labels)
    day_start = datetime.combine(new_end, datetime.min.time(), UTC).timestamp()
    assert staleness == env.clock.now() - day_start


async def backfill_window(env: Env, collector: CopilotCollector, window: MissedWindow) -> None:
    ref = ReportRef(window.scope, window.scope_id, cast(ReportType, window.target))
    for day in cast(DayWindow, window.window).days:
        await collector.backfill(ref, day)


async def test_failed_link_fetch_records_backfill_work_and_backfill_restores_the_day(env: Env) -> None:
    """500 on the link endpoint beyond the retries → fetch_error MissedWindow for the window; backfill restores 1d."""
    env.sim.faults.add(FaultRule(endpoint="copilot_report_link", kind="status", status=500, times=2))
    collector = env.collector("org", "acme")
    assert not await collector.tick()
    assert env.missed == [
        MissedWindow(
            kind=JobKind.COPILOT,
            scope="org",
            scope_id="acme",
            target="organization",
            reason=CopilotReason.REPORT_FETCH_ERROR,
            window=DayWindow(END_DAY - timedelta(days=27), END_DAY),
        )
    ]
    assert not await env.has("org", "acme", "organization", "28d")
    assert env.health["github_api_copilot_org_reports"][0] is False
    assert (
        env.metrics.value(
            metrics.COPILOT_SCRAPE_RUNS, {"org": "acme", "scope": "org", "result": "fetch_error"}
        )
        == 1
    )
    await backfill_window(env, collector, env.missed[0])
    ours = as_truth(await env.samples("org", "acme", "organization", "1d"))
    assert ours == truth(env, "org", "acme", "organization", "1d", END_DAY)
    # The next scheduled pass (15 minutes later after a failure) rolls the 28-day view forward.
    env.clock.advance(900)
    assert await collector.tick()
    assert env.health["github_api_copilot_org_reports"] == (True, "")
    ours = as_truth(await env.samples("org", "acme", "organization", "28d"))
    assert ours == truth(env, "org", "acme", "organization", "28d", END_DAY)


async def test_truncated_download_records_download_error_and_keeps_the_checkpoint(env: Env) -> None:
    """Every attempt truncated → download_error for the report's days, no snapshot, no checkpoint; backfill restores."""
    env.sim.faults.add(FaultRule(endpoint="copilot_report_download", kind="truncate"))
    collector = env.collector("org", "acme", include_org_28d=False, include_org_users_28d=True)
    assert not await collector.tick()
    assert [(w.reason, w.target, w.window) for w in env.missed] == [
        (CopilotReason.REPORT_DOWNLOAD_ERROR, "users", DayWindow(END_DAY - timedelta(days=27), END_DAY))
    ]
    assert not await env.has("org", "acme", "users", "28d")
    assert await env.store.get_checkpoint("copilot/org/acme/users") is not None
    assert "report_end_day" not in read_checkpoint(await env.store.get_checkpoint("copilot/org/acme/users"))
    assert env.health["github_copilot_report_download"][0] is False
    env.sim.faults.clear()
    await collector.backfill(ReportRef("org", "acme", "users"), END_DAY)
    ours = as_truth(await env.samples("org", "acme", "users", "1d"))
    assert ours == truth(env, "org", "acme", "users", "1d", END_DAY)
    assert env.health["github_copilot_report_download"] == (True, "")


async def test_malformed_lines_are_counted_published_and_sent_to_backfill(env: Env) -> None:
    """Malformed lines are skipped and counted; the rest is published; parse_error work is recorded; no checkpoint."""
    env.sim.faults.add(FaultRule(endpoint="copilot_report_download", kind="malformed", times=1))
    collector = env.collector("org", "acme", include_org_28d=False, include_org_users_28d=True)
    assert not await collector.tick()
    ours = as_truth(await env.samples("org", "acme", "users", "28d"))
    assert ours == truth(env, "org", "acme", "users", "28d", END_DAY)
    labels = {"org": "acme", "scope": "users"}
    assert env.metrics.value(metrics.COPILOT_RECORDS_DROPPED, {**labels, "reason": "parse_error"}) == 2
    assert env.metrics.value(metrics.COPILOT_SCRAPE_RUNS, {**labels, "result": "partial"}) == 1
    assert [(w.reason, w.window) for w in env.missed] == [
        (CopilotReason.REPORT_PARSE_ERROR, DayWindow(END_DAY - timedelta(days=27), END_DAY))
    ]
    assert "report_end_day" not in read_checkpoint(await env.store.get_checkpoint("copilot/org/acme/users"))
    # The unchanged gate does not hide a partial report: the next pass downloads it again and completes.
    env.clock.advance(900)
    downloads = env.sim.stats.downloads
    assert await collector.tick()
    assert env.sim.stats.downloads > downloads
    raw = await env.store.get_checkpoint("copilot/org/acme/users")
    assert raw is not None
    checkpoint = read_checkpoint(raw)
    assert checkpoint["report_end_day"] == END_DAY.isoformat()


async def test_a_malformed_one_day_report_raises_after_publishing(env: Env) -> None:
    """backfill() publishes what parsed and raises a parse_error so the job is retried."""
    from github_stats_exporter.scrape.copilot import CopilotCollectError

    env.sim.faults.add(FaultRule(endpoint="copilot_report_download", kind="malformed", times=1))
    collector = env.collector("org", "acme")
    with pytest.raises(CopilotCollectError) as caught:
        await collector.backfill(ORG_REPORT, END_DAY)
    assert caught.value.reason == CopilotReason.REPORT_PARSE_ERROR
    assert await env.has("org", "acme", "organization", "1d")


async def test_expired_links_are_refetched_once(env: Env) -> None:
    """An expired link is replaced by fresh links once; the report then equals the truth and nothing is missed."""
    env.sim.faults.add(FaultRule(endpoint="copilot_report_link", kind="expired_link", times=1))
    collector = env.collector("org", "acme")
    assert await collector.tick()
    assert env.sim.stats.total("copilot_report_link") == 2
    assert (
        env.metrics.value(
            metrics.COPILOT_REPORT_DOWNLOADS, {"org": "acme", "scope": "org", "result": "expired"}
        )
        == 1
    )
    ours = as_truth(await env.samples("org", "acme", "organization", "28d"))
    assert ours == truth(env, "org", "acme", "organization", "28d", END_DAY)
    assert env.missed == []


async def test_links_that_keep_expiring_become_download_errors(env: Env) -> None:
    """When the fresh links are refused too, the report fails with a download_error backfill record."""
    env.sim.faults.add(FaultRule(endpoint="copilot_report_download", kind="expired_link"))
    collector = env.collector("org", "acme")
    assert not await collector.tick()
    assert [w.reason for w in env.missed] == [CopilotReason.REPORT_DOWNLOAD_ERROR]
    assert env.sim.stats.total("copilot_report_link") == 2


async def test_backfill_of_a_day_without_report_is_a_no_op(env: Env) -> None:
    """A day GitHub has not processed yet answers 204: backfill returns without writing anything."""
    collector = env.collector("org", "acme")
    yesterday = END_DAY + timedelta(days=1)
    await collector.backfill(ORG_REPORT, yesterday)
    assert env.sim.stats.requests["copilot_report_link", 204] == 1
    assert await env.store.versions() == {}


async def test_backfill_never_moves_the_one_day_view_backwards(env: Env) -> None:
    """After the newest day is stored, backfilling an older day neither requests it nor replaces the view."""
    collector = env.collector("org", "acme")
    assert await collector.tick()
    before = await env.samples("org", "acme", "organization", "1d")
    links = env.sim.stats.total("copilot_report_link")
    await collector.backfill(ORG_REPORT, END_DAY - timedelta(days=3))
    assert env.sim.stats.total("copilot_report_link") == links
    assert await env.samples("org", "acme", "organization", "1d") == before


async def test_enterprise_users_and_org_users_stay_apart(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Org users (scope="users") and enterprise users (scope="enterprise_users") never overwrite each other."""
    monkeypatch.setenv("UNUSED", "ghp_unused_token_value")
    org = env.collector("org", "globex", include_org_28d=False, include_org_users_28d=True)
    ent = env.collector(
        "enterprise", ENTERPRISE, include_org_28d=False, include_enterprise_users_28d=True, **ENTERPRISE_ON
    )
    assert await org.tick()
    assert await ent.tick()
    globex = as_truth(await env.samples("org", "globex", "users", "28d"))
    whole = as_truth(await env.samples("enterprise", ENTERPRISE, "users", "28d"))
    assert globex == truth(env, "org", "globex", "users", "28d", END_DAY)
    assert whole == truth(env, "enterprise", ENTERPRISE, "users", "28d", END_DAY)
    assert (
        env.metrics.value(
            metrics.COPILOT_SCRAPE_RUNS, {"org": "globex", "scope": "users", "result": "success"}
        )
        == 1
    )
    assert (
        env.metrics.value(
            metrics.COPILOT_SCRAPE_RUNS, {"org": ENTERPRISE, "scope": "enterprise_users", "result": "success"}
        )
        == 1
    )


async def test_max_users_cap_drops_and_counts(env: Env) -> None:
    """max_users_per_report keeps the first N users and counts every dropped record."""
    collector = env.collector(
        "org", "acme", include_org_28d=False, include_org_users_28d=True, max_users_per_report=3
    )
    assert await collector.tick()
    samples = await env.samples("org", "acme", "users", "28d")
    assert len({s.label("user") for s in samples}) == 3
    dropped = env.metrics.value(
        metrics.COPILOT_RECORDS_DROPPED, {"org": "acme", "scope": "users", "reason": "max_users_per_report"}
    )
    assert dropped > 0


def service_config(sim: Simulator, key_path: Path, copilot: dict[str, Any]) -> Settings:
    return parse_config(
        {
            "server": {"listen_addr": "127.0.0.1:0", "log_level": "warning"},
            "github": {
                "api_base_url": sim.api_url,
                "orgs": [
                    {
                        "org": "acme",
                        "app_id": ORG_APP,
                        "installation_id": 21,
                        "private_key_path": str(key_path),
                    }
                ],
            },
            "retry": {"max_attempts": 2, "initial_backoff": "10ms", "max_backoff": "20ms"},
            "health": {"github_probe_interval": "1h"},
            "copilot": copilot,
        }
    )


async def test_disabled_copilot_serves_no_copilot_series_and_asks_nothing(
    org_keys: tuple[str, str], tmp_path: Path
) -> None:
    """copilot.enabled: false → the whole service exposes no gh_copilot_usage_ series and never calls the report API."""
    key_path = tmp_path / "app.pem"
    key_path.write_text(org_keys[0])
    clock = SimClock(frozen_at=START)
    async with Simulator(world(), clock=clock) as sim:
        sim.add_app(ORG_APP, org_keys[1])
        settings = service_config(sim, key_path, {"enabled": False, "include_org_users_28d": True})
        assert isinstance(settings.github.orgs[0].credentials, AppCredentials)
        result = await app.once(settings, fmt=Format.TEXT, clock=clock.now)
    assert b"gh_copilot_usage_" not in result.body
    assert sim.stats.total("copilot_report_link") == 0
    assert sim.stats.total("copilot_report_download") == 0


def test_local_sample_config_copilot_block_loads() -> None:
    """config/local.yaml's copilot block is valid and maps onto collector options."""
    root = Path(__file__).resolve().parents[2]
    data = yaml.safe_load((root / "config" / "local.yaml").read_text())
    cfg = CopilotConfig.model_validate(data["copilot"])
    options = options_from_config(cfg, "org", "acme")
    assert options.reports == (("organization",) if cfg.include_org_28d else ())
    assert options.interval_seconds == cfg.scrape_interval.total_seconds()


async def test_enterprise_users_differ_from_org_users_even_when_slug_equals_org(
    org_keys: tuple[str, str], ent_keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An enterprise slug equal to an org login still yields distinct label sets (no silent collision)."""
    monkeypatch.setenv("UNUSED", "ghp_unused_token_value")
    base = world()
    assert base.enterprise is not None
    spec = replace(base, enterprise=replace(base.enterprise, slug="acme"))
    async with open_env(spec, org_keys, ent_keys) as env:
        org = env.collector("org", "acme", include_org_28d=False, include_org_users_28d=True)
        ent = env.collector(
            "enterprise",
            "acme",
            **report_config("enterprise", {"include_org_28d": False, "include_enterprise_users_28d": True}),
        )
        assert await org.tick()
        assert await ent.tick()
        org_users = await env.samples("org", "acme", "users", "28d")
        ent_users = await env.samples("enterprise", "acme", "users", "28d")

    assert org_users
    assert ent_users
    assert {(s.label("org"), s.label("scope")) for s in org_users} == {("acme", "users")}
    assert {(s.label("org"), s.label("scope")) for s in ent_users} == {("acme", "enterprise_users")}
    # Both are users reports: only the per-user families, never the aggregate-only ones.
    assert {s.name for s in org_users} | {s.name for s in ent_users} <= USERS_FAMILIES
    assert as_truth(org_users).keys().isdisjoint(as_truth(ent_users).keys())
