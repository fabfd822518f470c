"""The Copilot team collector of one org (or the enterprise): users-1-day ⨝ user-teams-1-day, day by day.

`TeamsCollector.tick` asks for the latest 28-day users report's links only to learn its window, then
makes sure every day of that window has its membership (``user-teams-1-day``) and, when that day has
teams, its per-user usage (``users-1-day``) kept in the store through `DayFiles`: each day is fetched
once, so a steady pass costs the window request plus one new day. It joins each day's usage with the
same day's membership on (user, day, entity) as docs/metrics.md ("Copilot teams") says, sums the
counters per team, counts distinct users per team, and replaces the scope's snapshot (``28d`` and the
newest day ``1d``). A failed day fails the pass without publishing a window with a hole; days already
fetched stay stored for the next pass. This module must not know config files, queues or the server.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta

import msgspec
import structlog

from github_stats_exporter import metrics
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.copilot import (
    CopilotReportsApi,
    ReportDownloader,
    ReportLinks,
    ReportRef,
    ReportType,
    Scope,
)
from github_stats_exporter.github.errors import GitHubError
from github_stats_exporter.health import HealthReport
from github_stats_exporter.metrics import MetricSpec
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.retry import Retrier, RetryPolicy
from github_stats_exporter.scrape.copilot_parse import COUNTER_FIELDS, Counters, Number
from github_stats_exporter.scrape.day_files import DayFiles
from github_stats_exporter.scrape.day_reports import DayReportError, DayReports, LinkSource
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import CollectionStore, StoreError
from github_stats_exporter.tracing import NO_TRACING, Tracing

log = structlog.get_logger(__name__)

SNAPSHOT_KIND = "copilot_teams"
TEAM_COMPONENTS: dict[str, str] = {
    "org": "github_api_copilot_org_teams",
    "enterprise": "github_api_copilot_enterprise_teams",
}
MAX_UNCHANGED_SECONDS = 86400.0
"""Unchanged series are still rewritten after a day, well inside the store's retention."""
DROP_MALFORMED = "malformed"
DROP_OTHER_DAY = "other_day"

SUMMED_SPECS: tuple[MetricSpec, ...] = (
    metrics.COPILOT_TEAM_INTERACTIONS,
    metrics.COPILOT_TEAM_CODE_GENERATION,
    metrics.COPILOT_TEAM_CODE_ACCEPTANCE,
    metrics.COPILOT_TEAM_LOC_SUGGESTED_ADD,
    metrics.COPILOT_TEAM_LOC_SUGGESTED_DELETE,
    metrics.COPILOT_TEAM_LOC_ADDED,
    metrics.COPILOT_TEAM_LOC_DELETED,
    metrics.COPILOT_TEAM_AI_CREDITS,
)
"""Per-user values summed per team, in the order of `UsageRow.values`."""


# --- rows as the files hold them (only the fields the join needs) --------------------------------


class MemberRow(msgspec.Struct, kw_only=True, gc=False):
    """One (user, team) row of ``user-teams-1-day``."""

    user_id: int | None = None
    day: str | None = None
    organization_id: str | int | None = None
    enterprise_id: str | int | None = None
    slug: str | None = None


class UsageRow(Counters, kw_only=True, gc=False):
    """One user row of ``users-1-day``: the join keys, the seven counters and the AI credits."""

    user_id: int | None = None
    day: str | None = None
    organization_id: str | int | None = None
    enterprise_id: str | int | None = None
    ai_credits_used: Number | None = None

    def values(self) -> list[Number | None]:
        """In the order of `SUMMED_SPECS`: the counters, then the AI credits."""
        return [*(getattr(self, name) for name in COUNTER_FIELDS), self.ai_credits_used]


# --- what is kept per day -------------------------------------------------------------------------


class Membership(msgspec.Struct, kw_only=True):
    """One day's teams: slug → join keys (``<entity id>/<user id>``) of its members."""

    teams: dict[str, list[str]] = msgspec.field(default_factory=dict)


class Usage(msgspec.Struct, kw_only=True):
    """One day's usage of team members: join key → the values of `SUMMED_SPECS` (None = absent)."""

    users: dict[str, list[Number | None]] = msgspec.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TeamOptions:
    """One scope's team collection; the download retry settings mirror the report collector's."""

    scope: Scope
    scope_id: str
    interval_seconds: float
    download_attempts: int = 3
    backoff_seconds: float = 1.0
    max_backoff: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.scope not in ("org", "enterprise") or not self.scope_id:
            msg = f"team scope must be org or enterprise with an id, got {self.scope!r}/{self.scope_id!r}"
            raise ValueError(msg)
        if self.interval_seconds <= 0 or self.download_attempts < 1:
            msg = "interval_seconds must be positive and download_attempts >= 1"
            raise ValueError(msg)

    @property
    def component(self) -> str:
        """The health component this collector reports on (member: the scope id)."""
        return TEAM_COMPONENTS[self.scope]

    @property
    def self_scope(self) -> str:
        """The `scope` label of this collector's self-metrics (``teams`` or ``enterprise_teams``)."""
        return "teams" if self.scope == "org" else "enterprise_teams"


def snapshot_key(scope: Scope, scope_id: str) -> SnapshotKey:
    return SnapshotKey(SNAPSHOT_KIND, (scope, scope_id))


def _days(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


class TeamsCollector:
    """Team-level Copilot series of one org or the enterprise, through that scope's client."""

    def __init__(
        self,
        client: GitHubClient,
        downloader: ReportDownloader,
        store: CollectionStore,
        self_metrics: SelfMetrics,
        options: TeamOptions,
        *,
        health: HealthReport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
        links: LinkSource | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._api: LinkSource = links if links is not None else CopilotReportsApi(client)
        self._store = store
        self._metrics = self_metrics
        self.options = options
        self._health = health
        self._clock = clock
        prefix = f"copilot_days/{options.scope}/{options.scope_id}"
        self.membership = DayFiles(store, f"{prefix}/user_teams", Membership)
        self.usage = DayFiles(store, f"{prefix}/users", Usage)
        self._labels = {"org": options.scope_id, "scope": options.self_scope}
        policy = RetryPolicy(
            attempts=options.download_attempts,
            initial_backoff=options.backoff_seconds,
            max_backoff=max(options.max_backoff, options.backoff_seconds),
            jitter=options.jitter,
        )
        retrier = Retrier(policy, org=options.scope_id, metrics=self_metrics, sleep=sleep, rng=rng)
        self._reports = DayReports(
            self._api, downloader, retrier, self_metrics, self._labels, tracing=tracing
        )

    def _ref(self, report: ReportType) -> ReportRef:
        return ReportRef(self.options.scope, self.options.scope_id, report)

    async def tick(self) -> bool:
        """One pass; True when the snapshot now holds the latest window."""
        opts = self.options
        try:
            window = await self._api.fetch_links(self._ref("users"), "28d")
        except GitHubError as exc:
            return self._fail("fetch_error", f"28-day users report: {exc}")
        if window is None:  # pragma: no cover (the 28-day endpoints never answer 204)
            return True
        days = _days(window.start_day, window.end_day)
        try:
            joined = [await self._day(day) for day in days]
            samples = tuple(self._samples(joined, window.end_day))
            unchanged = await self._publish(samples, window)
            await self.membership.prune(window.start_day)
            await self.usage.prune(window.start_day)
        except DayReportError as exc:
            return self._fail(exc.result, str(exc))
        except StoreError as exc:
            self._run("store_error")
            log.warning("copilot_teams_store_failed", org=opts.scope_id, scope=opts.scope, error=str(exc))
            return False
        self._run("unchanged" if unchanged else "success")
        self._metrics.set(metrics.COPILOT_LAST_SUCCESS, self._labels, self._clock())
        self._report(healthy=True)
        return True

    # --- one day ---------------------------------------------------------------------------------

    async def _day(self, day: str) -> tuple[str, Membership, Usage]:
        membership, _ = await self.membership.get_or_fetch(day, self._fetch_membership)
        keys = {key for members in membership.teams.values() for key in members}
        if not keys:
            usage = Usage()  # no team that day: its users report is not needed
        else:
            usage, _ = await self.usage.get_or_fetch(day, lambda d: self._fetch_usage(d, keys))
        return day, membership, usage

    def _key(self, row: MemberRow | UsageRow) -> str | None:
        entity = row.enterprise_id if self.options.scope == "enterprise" else row.organization_id
        if row.user_id is None or entity is None or entity == "":
            return None
        return f"{entity}/{row.user_id}"

    async def _fetch_membership(self, day: str) -> Membership:
        teams: dict[str, list[str]] = {}
        for row in await self._reports.rows(self._ref("user_teams"), day, MemberRow):
            key = self._key(row)
            if row.day != day:
                self._drop(DROP_OTHER_DAY)
            elif key is None or not row.slug:
                self._drop(DROP_MALFORMED)
            else:
                members = teams.setdefault(row.slug, [])
                if key not in members:
                    members.append(key)
        return Membership(teams=teams)

    async def _fetch_usage(self, day: str, keys: set[str]) -> Usage:
        users: dict[str, list[Number | None]] = {}
        for row in await self._reports.rows(self._ref("users"), day, UsageRow):
            key = self._key(row)
            if row.day != day:
                self._drop(DROP_OTHER_DAY)
            elif key is None:
                self._drop(DROP_MALFORMED)
            elif key in keys:  # only team members are kept: nobody else can join
                users[key] = row.values()
        return Usage(users=users)

    # --- the join --------------------------------------------------------------------------------

    def _samples(self, joined: list[tuple[str, Membership, Usage]], newest: str) -> list[Sample]:
        """Sums and distinct users per (team, window); the join is per day, never across days."""
        sums: dict[tuple[str, str], list[Number | None]] = {}
        users: dict[tuple[str, str], set[str]] = {}
        for day, membership, usage in joined:
            windows = ("28d", "1d") if day == newest else ("28d",)
            for slug, members in membership.teams.items():
                for key in members:
                    values = usage.users.get(key)
                    if values is None:
                        continue  # inner join: a member without a row that day adds nothing
                    for window in windows:
                        users.setdefault((slug, window), set()).add(key)
                        acc = sums.get((slug, window))
                        sums[slug, window] = values if acc is None else _add(acc, values)
        org, scope = self.options.scope_id, self.options.scope
        out: list[Sample] = []
        for (slug, window), values in sorted(sums.items()):
            labels = (("org", org), ("team", slug), ("scope", scope), ("window", window))
            out += [
                Sample(spec.name, labels, float(v))
                for spec, v in zip(SUMMED_SPECS, values, strict=True)
                if v is not None
            ]
            active = float(len(users[slug, window]))
            out.append(Sample(metrics.COPILOT_TEAM_ACTIVE_USERS.name, labels, active))
        return out

    async def _publish(self, samples: tuple[Sample, ...], window: ReportLinks) -> bool:
        """Replace the snapshot unless it already holds these series (and is under a day old)."""
        key = snapshot_key(self.options.scope, self.options.scope_id)
        now = self._clock()
        stored = (await self._store.get_many([key])).get(key)
        if (
            stored is not None
            and stored.samples == samples
            and now - stored.produced_at < MAX_UNCHANGED_SECONDS
        ):
            return True
        meta = {"report_start_day": window.start_day, "report_end_day": window.end_day}
        await self._store.put(Snapshot(key, samples, now, meta=meta))
        return False

    # --- self-metrics and health -------------------------------------------------------------------

    def _fail(self, result: str, detail: str) -> bool:
        self._run(result)
        log.warning("copilot_teams_failed", org=self.options.scope_id, scope=self.options.scope, error=detail)
        self._report(healthy=False, detail=detail)
        return False

    def _run(self, result: str) -> None:
        self._metrics.inc(metrics.COPILOT_SCRAPE_RUNS, {**self._labels, "result": result})

    def _drop(self, reason: str, count: int = 1) -> None:
        self._metrics.inc(metrics.COPILOT_RECORDS_DROPPED, {**self._labels, "reason": reason}, count)

    def _report(self, *, healthy: bool, detail: str = "") -> None:
        if self._health is not None:
            self._health.report(self.options.component, self.options.scope_id, healthy, detail)


def _add(acc: list[Number | None], values: list[Number | None]) -> list[Number | None]:
    return [v if a is None else a if v is None else a + v for a, v in zip(acc, values, strict=True)]
