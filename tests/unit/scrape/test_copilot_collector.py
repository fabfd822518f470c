"""The Copilot collector's decisions with scripted links and files: gates, checkpoints, backfill records, health."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import pytest
import structlog
from tests.support.health import HealthStates

from github_stats_exporter import metrics
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.copilot import (
    DownloadError,
    LinkExpired,
    ReportDownloader,
    ReportLinks,
    ReportRef,
)
from github_stats_exporter.github.errors import Forbidden, RateLimited, ServerError
from github_stats_exporter.health import FoldedHealth
from github_stats_exporter.model import CopilotReason, DayWindow, JobKind, MissedWindow, SnapshotKey
from github_stats_exporter.scrape.copilot import (
    CopilotCollectError,
    CopilotCollector,
    CopilotOptions,
    components_for,
    read_checkpoint,
)
from github_stats_exporter.scrape.copilot_map import MAX_LABEL_VALUES, LabelPolicy, MapOptions
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore

NOW = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
SIGNED = "https://copilot-reports.github.com/r/part-0.json?sig=TOPSECRET"


def aggregate(end_day: str) -> bytes:
    return (
        json.dumps({"day_totals": [{"day": end_day, "loc_added_sum": 5, "daily_active_users": 2}]}).encode()
        + b"\n"
    )


ORG_REPORT = ReportRef("org", "acme", "organization")


@dataclass
class FakeApi:
    """Scripted report links: each call pops the next answer (an exception is raised)."""

    answers: list[Any]
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)

    async def fetch_links(self, ref: ReportRef, window: str, day: str | None = None) -> ReportLinks | None:
        self.calls.append((ref.report_type, window, day))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return None
        start, end = answer
        return ReportLinks(ref, window, (SIGNED,), start, end)  # type: ignore[arg-type]


@dataclass
class FakeDownloader:
    """Scripted files: each fetch pops the next body (bytes) or failure (exception)."""

    answers: list[bytes | Exception]
    fetched: int = 0

    async def fetch(self, link: str, consume: Callable[[bytes], object]) -> int:
        self.fetched += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        consume(answer)
        return len(answer)


@dataclass
class Rig:
    store: MemorySnapshotStore
    metrics: SelfMetrics
    missed: list[MissedWindow]
    health: dict[str, tuple[bool, str]]
    clock: list[float]

    def collector(self, api: FakeApi, downloader: FakeDownloader, **options: Any) -> CopilotCollector:
        async def record(window: MissedWindow) -> None:
            self.missed.append(window)

        async def no_sleep(_: float) -> None:
            return None

        settings: dict[str, Any] = {
            "scope": "org",
            "scope_id": "acme",
            "reports": ("organization",),
            "interval_seconds": 6 * 3600.0,
        }
        settings.update(options)
        return CopilotCollector(
            cast(GitHubClient, object()),
            cast(ReportDownloader, downloader),
            self.store,
            self.metrics,
            CopilotOptions(**settings),
            record_missed=record,
            health=FoldedHealth(HealthStates(self.health)),
            clock=lambda: self.clock[0],
            sleep=no_sleep,
            links=api,
        )

    def runs(self, result: str, org: str = "acme", scope: str = "org") -> float:
        return self.metrics.value(metrics.COPILOT_SCRAPE_RUNS, {"org": org, "scope": scope, "result": result})


@pytest.fixture
def rig() -> Rig:
    clock = [NOW]
    return Rig(MemorySnapshotStore(clock=lambda: clock[0]), SelfMetrics(), [], {}, clock)


async def test_success_publishes_both_views_and_advances_the_checkpoint(rig: Rig) -> None:
    """A complete report writes the 28d and 1d snapshots and checkpoints report_end_day."""
    collector = rig.collector(
        FakeApi([("2026-04-29", "2026-05-26")]), FakeDownloader([aggregate("2026-05-26")])
    )
    assert await collector.tick()
    versions = await rig.store.versions()
    assert set(versions) == {
        SnapshotKey("copilot", ("org", "acme", "organization", "28d")),
        SnapshotKey("copilot", ("org", "acme", "organization", "1d")),
    }
    raw = await rig.store.get_checkpoint("copilot/org/acme/organization")
    assert raw is not None
    checkpoint = read_checkpoint(raw)
    assert checkpoint["report_end_day"] == "2026-05-26"
    assert rig.metrics.value(metrics.COPILOT_LAST_SUCCESS, {"org": "acme", "scope": "org"}) == NOW
    assert rig.health == {
        "github_copilot_report_download": (True, ""),
        "github_api_copilot_org_reports": (True, ""),
    }


@pytest.mark.parametrize(
    ("advance", "first_ok", "due"),
    [
        pytest.param(60.0, True, False, id="right-after-success"),
        pytest.param(6 * 3600.0 - 30.0, True, True, id="interval-with-slack"),
        pytest.param(900.0, False, True, id="failure-retries-after-15m"),
        pytest.param(600.0, False, False, id="failure-not-before-15m"),
    ],
)
async def test_interval_gate(rig: Rig, advance: float, first_ok: bool, due: bool) -> None:
    """A report is due after the interval (minus a little slack), or 15 minutes after a failed pass."""
    first: Any = ("2026-04-29", "2026-05-26") if first_ok else ServerError(500, "down", "x", "/p")
    api = FakeApi([first, ("2026-04-30", "2026-05-27")])
    collector = rig.collector(api, FakeDownloader([aggregate("2026-05-26")]))
    assert await collector.tick() is first_ok
    rig.clock[0] += advance
    await collector.tick()
    assert len(api.calls) == (2 if due else 1)
    assert rig.runs("skipped_interval") == (0 if due else 1)


async def test_fetch_error_after_a_checkpoint_asks_only_for_the_new_days(rig: Rig) -> None:
    """With a complete report up to day E, a failed fetch records work for E+1 .. today-2 only."""
    api = FakeApi([("2026-04-27", "2026-05-24"), ServerError(500, "down", "x", "/p")])
    collector = rig.collector(api, FakeDownloader([aggregate("2026-05-24")]))
    assert await collector.tick()
    rig.clock[0] += 6 * 3600
    assert not await collector.tick()
    assert rig.missed == [
        MissedWindow(
            JobKind.COPILOT,
            "org",
            "acme",
            "organization",
            CopilotReason.REPORT_FETCH_ERROR,
            DayWindow(date(2026, 5, 25), date(2026, 5, 27)),
        )
    ]
    assert rig.runs("fetch_error") == 1
    assert rig.health["github_api_copilot_org_reports"][0] is False


async def test_fetch_error_with_everything_covered_records_nothing(rig: Rig) -> None:
    """If the checkpoint already reaches the expected newest day there is nothing to backfill."""
    api = FakeApi([("2026-04-29", "2026-05-26"), ServerError(500, "down", "x", "/p")])
    collector = rig.collector(api, FakeDownloader([aggregate("2026-05-26")]), interval_seconds=3600.0)
    assert await collector.tick()
    rig.clock[0] += 2 * 3600  # 2026-05-28 22:26: the newest expected day is still 2026-05-26
    assert not await collector.tick()
    assert rig.missed == []
    assert rig.runs("fetch_error") == 1


@pytest.mark.parametrize(
    ("error", "recorded"),
    [
        pytest.param(Forbidden(403, "policy disabled", "copilot_report_link", "/p"), False, id="plain-403"),
        pytest.param(RateLimited(NOW + 60, secondary=True), True, id="secondary-limit"),
        pytest.param(ServerError(502, "down", "copilot_report_link", "/p"), True, id="5xx"),
    ],
)
async def test_only_a_curable_fetch_failure_records_backfill_work(
    rig: Rig, error: Exception, recorded: bool
) -> None:
    """A plain 403 would repeat for every day, so no days are recorded; a rate limit or a 5xx are."""
    api = FakeApi([("2026-04-27", "2026-05-24"), error])
    collector = rig.collector(api, FakeDownloader([aggregate("2026-05-24")]))
    assert await collector.tick()
    rig.clock[0] += 6 * 3600
    assert not await collector.tick()
    assert [w.reason for w in rig.missed] == ([CopilotReason.REPORT_FETCH_ERROR] if recorded else [])
    assert rig.runs("fetch_error") == 1


async def test_download_retries_are_counted_with_the_github_retries(rig: Rig) -> None:
    """Every download retry, an expired link's free refetch included, counts under copilot_report_download."""
    api = FakeApi([("2026-04-29", "2026-05-26")])
    files = FakeDownloader(
        [
            DownloadError("cut", transient=True, reason="invalid_body"),
            LinkExpired("expired", status=403),
            DownloadError("slow", transient=True, reason="timeout"),
            aggregate("2026-05-26"),
        ]
    )
    collector = rig.collector(api, files, download_attempts=3)
    assert await collector.tick()

    def retries(reason: str) -> float:
        labels = {"org": "acme", "endpoint": "copilot_report_download", "reason": reason}
        return rig.metrics.value(metrics.GITHUB_RETRIES, labels)

    assert (retries("invalid_body"), retries("expired_link"), retries("timeout")) == (1, 1, 1)
    assert files.fetched == 4


async def test_transient_download_errors_retry_with_fresh_links(rig: Rig) -> None:
    """A 5xx/timeout/truncation is retried (download_attempts) with fresh links each time."""
    api = FakeApi([("2026-04-29", "2026-05-26")])
    files = FakeDownloader([DownloadError("boom", status=503, transient=True), aggregate("2026-05-26")])
    collector = rig.collector(api, files, download_attempts=2)
    assert await collector.tick()
    assert files.fetched == 2
    assert len(api.calls) == 2
    assert rig.missed == []


async def test_permanent_download_errors_are_not_retried(rig: Rig) -> None:
    """A non-transient failure ends the report at once and records download_error work."""
    api = FakeApi([("2026-04-29", "2026-05-26")])
    files = FakeDownloader([DownloadError("bad request", status=400)])
    collector = rig.collector(api, files, download_attempts=3)
    assert not await collector.tick()
    assert files.fetched == 1
    assert [w.reason for w in rig.missed] == [CopilotReason.REPORT_DOWNLOAD_ERROR]
    assert rig.health["github_copilot_report_download"][0] is False
    assert (
        rig.metrics.value(
            metrics.COPILOT_REPORT_DOWNLOADS, {"org": "acme", "scope": "org", "result": "failure"}
        )
        == 1
    )


async def test_expired_links_are_refetched_exactly_once(rig: Rig) -> None:
    """One expiry → fresh links; a second expiry → download_error (no endless refetch loop)."""
    api = FakeApi([("2026-04-29", "2026-05-26")])
    files = FakeDownloader([LinkExpired("expired", status=403)])
    collector = rig.collector(api, files)
    assert not await collector.tick()
    assert len(api.calls) == 2
    assert files.fetched == 2
    assert [w.reason for w in rig.missed] == [CopilotReason.REPORT_DOWNLOAD_ERROR]


async def test_signed_urls_never_reach_the_logs(rig: Rig) -> None:
    """Failure logs name the report and the error, never the signed link."""
    api = FakeApi([("2026-04-29", "2026-05-26")])
    files = FakeDownloader([DownloadError(f"failed for {SIGNED.split('?')[0]}", status=400)])
    collector = rig.collector(api, files)
    with structlog.testing.capture_logs() as logs:
        assert not await collector.tick()
    assert logs
    assert "TOPSECRET" not in repr(logs)


async def test_backfill_refuses_other_scopes(rig: Rig) -> None:
    """A collector only backfills its own org/enterprise; the scope id's case does not matter."""
    api = FakeApi([None])
    collector = rig.collector(api, FakeDownloader([b""]))
    with pytest.raises(ValueError, match="serves org/acme"):
        await collector.backfill(ReportRef("org", "globex", "organization"), date(2026, 5, 20))
    with pytest.raises(ValueError, match="serves org/acme"):
        await collector.backfill(ReportRef("enterprise", "acme", "enterprise"), date(2026, 5, 20))
    assert api.calls == []
    await collector.backfill(ReportRef("org", "ACME", "organization"), date(2026, 5, 20))
    assert api.calls == [("organization", "1d", "2026-05-20")]


async def test_backfill_raises_fetch_errors(rig: Rig) -> None:
    """A failing 1-day link call raises CopilotCollectError(fetch) so the job is retried."""
    collector = rig.collector(FakeApi([ServerError(500, "down", "x", "/p")]), FakeDownloader([b""]))
    with pytest.raises(CopilotCollectError) as caught:
        await collector.backfill(ORG_REPORT, date(2026, 5, 20))
    assert caught.value.reason == CopilotReason.REPORT_FETCH_ERROR


async def test_backfill_with_day_labels_writes_one_snapshot_per_day(rig: Rig) -> None:
    """emit_day_label: each backfilled day is its own snapshot with a day label; none replaces another."""
    mapping = MapOptions(labels=LabelPolicy(emit_day_label=True))
    api = FakeApi([("2026-05-20", "2026-05-20"), ("2026-05-21", "2026-05-21")])
    files = FakeDownloader([aggregate("2026-05-20"), aggregate("2026-05-21")])
    collector = rig.collector(api, files, mapping=mapping)
    await collector.backfill(ORG_REPORT, date(2026, 5, 20))
    await collector.backfill(ORG_REPORT, date(2026, 5, 21))
    keys = set(await rig.store.versions())
    assert keys == {
        SnapshotKey("copilot", ("org", "acme", "organization", "1d", "2026-05-20")),
        SnapshotKey("copilot", ("org", "acme", "organization", "1d", "2026-05-21")),
    }
    snapshot = (await rig.store.get_many(keys))[
        SnapshotKey("copilot", ("org", "acme", "organization", "1d", "2026-05-21"))
    ]
    assert {s.label("day") for s in snapshot.samples} == {"2026-05-21"}
    assert {s.label("window") for s in snapshot.samples} == {"1d"}


async def test_day_snapshots_older_than_the_window_are_pruned(rig: Rig) -> None:
    """With day labels, per-day 1d snapshots that fell out of the 28-day window are deleted by the next pass."""
    mapping = MapOptions(labels=LabelPolicy(emit_day_label=True))
    api = FakeApi([("2026-03-01", "2026-03-01"), ("2026-04-29", "2026-05-26")])
    files = FakeDownloader([aggregate("2026-03-01"), aggregate("2026-05-26")])
    collector = rig.collector(api, files, mapping=mapping)
    await collector.backfill(ORG_REPORT, date(2026, 3, 1))
    assert await collector.tick()
    days = {k.parts[-1] for k in await rig.store.versions() if len(k.parts) == 5}
    assert days == {"2026-05-26"}


def test_health_folds_members_of_a_component() -> None:
    """One failing org makes the component unhealthy until it recovers; others do not mask it."""
    states: dict[str, tuple[bool, str]] = {}
    health = FoldedHealth(HealthStates(states))
    health.report("c", "acme", healthy=False, detail="HTTP 500")
    health.report("c", "globex", healthy=True)
    assert states["c"] == (False, "acme: HTTP 500")
    health.report("c", "acme", healthy=True)
    assert states["c"] == (True, "")


@pytest.mark.parametrize(
    ("scope", "reports", "expected"),
    [
        pytest.param("org", ("organization",), ["github_api_copilot_org_reports"], id="org"),
        pytest.param(
            "org",
            ("organization", "users"),
            ["github_api_copilot_org_reports", "github_api_copilot_org_user_reports"],
            id="org-users",
        ),
        pytest.param(
            "enterprise",
            ("enterprise", "users"),
            ["github_api_copilot_enterprise_reports", "github_api_copilot_enterprise_user_reports"],
            id="enterprise",
        ),
    ],
)
def test_health_components_per_collector(scope: str, reports: tuple[str, ...], expected: list[str]) -> None:
    """components_for names the report components plus the shared download component."""
    assert components_for(scope, reports) == [*expected, "github_copilot_report_download"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"reports": ("enterprise",)}, id="enterprise-report-for-org"),
        pytest.param({"interval_seconds": 0.0}, id="zero-interval"),
        pytest.param({"download_attempts": 0}, id="no-attempts"),
    ],
)
def test_options_are_validated(kwargs: dict[str, Any]) -> None:
    """Impossible collector options are refused when built."""
    base: dict[str, Any] = {
        "scope": "org",
        "scope_id": "acme",
        "reports": ("organization",),
        "interval_seconds": 60.0,
    }
    with pytest.raises(ValueError, match=r"scope|interval|attempts|report"):
        CopilotOptions(**{**base, **kwargs})


def test_poll_interval_is_bounded() -> None:
    """The scheduler polls at most every 5 minutes, or at the interval when it is shorter."""
    assert CopilotOptions("org", "a", ("organization",), 6 * 3600.0).poll_seconds == 300.0
    assert CopilotOptions("org", "a", ("organization",), 60.0).poll_seconds == 60.0


async def test_a_store_outage_is_counted_not_raised(rig: Rig) -> None:
    """When checkpoints cannot be read the pass reports store_error and returns False; nothing is recorded."""
    collector = rig.collector(
        FakeApi([("2026-04-29", "2026-05-26")]), FakeDownloader([aggregate("2026-05-26")])
    )
    await rig.store.close()
    assert not await collector.tick()
    assert rig.runs("store_error") == 1
    assert rig.missed == []


async def test_label_values_over_the_cap_are_counted_per_label(rig: Rig) -> None:
    """Agents beyond the per-report cap are skipped and counted in gh_exporter_copilot_label_values_dropped_total."""
    agents = [
        {"agent_name": f"a{i}", "user_initiated_interaction_count": 1} for i in range(MAX_LABEL_VALUES + 3)
    ]
    body = json.dumps({"day_totals": [{"day": "2026-05-26", "totals_by_3rd_party_agent": agents}]}).encode()
    collector = rig.collector(FakeApi([("2026-04-29", "2026-05-26")]), FakeDownloader([body + b"\n"]))
    assert await collector.tick()
    labels = {"org": "acme", "scope": "org"}
    assert rig.metrics.value(metrics.COPILOT_LABEL_VALUES_DROPPED, {**labels, "label": "agent"}) == 3
    snapshot = (
        await rig.store.get_many([SnapshotKey("copilot", ("org", "acme", "organization", "28d"))])
    ).popitem()[1]
    assert len({s.label("agent") for s in snapshot.samples if s.label("agent")}) == MAX_LABEL_VALUES
