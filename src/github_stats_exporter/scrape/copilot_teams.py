"""The Copilot team collector of one org (or the enterprise): users-1-day ⨝ user-teams-1-day, day by day.

`TeamsCollector.tick` asks for the latest 28-day users report's links only to learn its window, then
makes sure every day of that window has its membership (``user-teams-1-day``) and, when that day has
teams, its per-user usage (``users-1-day``) kept in the store through `DayFiles`: each day is fetched
once, so a steady pass costs the window request plus one new day. It joins each day's usage with the
same day's membership on (user, day, entity) as docs/metrics.md ("Copilot teams") says, sums the
counters per team, counts distinct users per team, and replaces the scope's snapshot (``28d`` and the
newest day ``1d``). The pass itself (window, publishing, self-metrics, health) is its base
`DayCollector`'s. This module must not know config files, queues or the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Protocol

import msgspec

from github_stats_exporter import metrics
from github_stats_exporter.github.copilot import ReportRef, ReportType, Scope
from github_stats_exporter.metrics import MetricSpec
from github_stats_exporter.model import Sample, SnapshotKey
from github_stats_exporter.scrape.copilot_parse import COUNTER_FIELDS, Counters, Number
from github_stats_exporter.scrape.day_collection import (
    DROP_MALFORMED,
    DROP_OTHER_DAY,
    DayCollector,
    DayOptions,
    add_values,
)
from github_stats_exporter.scrape.day_files import DayFiles
from github_stats_exporter.scrape.day_reports import DayReports

SNAPSHOT_KIND = "copilot_teams"
TEAM_COMPONENTS: dict[str, str] = {
    "org": "github_api_copilot_org_teams",
    "enterprise": "github_api_copilot_enterprise_teams",
}

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
"""Per-user values summed per team, in the order `TeamDays.usage_of` reads them (counters, AI credits)."""


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


# --- what is kept per day -------------------------------------------------------------------------


class Membership(msgspec.Struct, kw_only=True):
    """One day's teams: slug → join keys (``<entity id>/<user id>``) of its members."""

    teams: dict[str, list[str]] = msgspec.field(default_factory=dict)


class Usage(msgspec.Struct, kw_only=True):
    """One day's usage of team members: join key → the values of `SUMMED_SPECS` (None = absent)."""

    users: dict[str, list[Number | None]] = msgspec.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TeamOptions(DayOptions):
    """One scope's team collection (`DayOptions`: scope, interval, download retries); self-metrics use
    ``scope`` = ``teams`` or ``enterprise_teams``."""

    components: ClassVar[Mapping[str, str]] = TEAM_COMPONENTS
    self_scopes: ClassVar[Mapping[str, str]] = {"org": "teams", "enterprise": "enterprise_teams"}


def snapshot_key(scope: Scope, scope_id: str) -> SnapshotKey:
    return SnapshotKey(SNAPSHOT_KIND, (scope, scope_id))


class JoinRow(Protocol):
    """What the join reads of a ``users-1-day`` row: its keys, the counters (`COUNTER_FIELDS`), AI credits."""

    @property
    def user_id(self) -> int | str | None: ...
    @property
    def day(self) -> str | None: ...
    @property
    def organization_id(self) -> str | int | None: ...
    @property
    def enterprise_id(self) -> str | int | None: ...
    @property
    def ai_credits_used(self) -> Number | None: ...


class TeamDays:
    """Reads one scope's day files: ``user-teams-1-day`` as `Membership`, ``users-1-day`` as `Usage`.

    Rows of another day or without join keys are dropped and reported through ``drop(reason)``.
    """

    def __init__(self, reports: DayReports, scope: Scope, scope_id: str, drop: Callable[[str], None]) -> None:
        self._reports = reports
        self._scope = scope
        self._scope_id = scope_id
        self._drop = drop

    def _ref(self, report: ReportType) -> ReportRef:
        return ReportRef(self._scope, self._scope_id, report)

    def _key(self, row: MemberRow | JoinRow) -> str | None:
        entity = row.enterprise_id if self._scope == "enterprise" else row.organization_id
        if row.user_id is None or entity is None or entity == "":
            return None
        return f"{entity}/{row.user_id}"

    async def membership(self, day: str) -> Membership:
        """``day``'s teams and their members (empty on a 204 day); raises `DayReportError`."""
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

    async def usage(self, day: str, keys: set[str]) -> Usage:
        """``day``'s values of the users in ``keys`` (nobody else can join); raises `DayReportError`."""
        return self.usage_of(day, await self._reports.rows(self._ref("users"), day, UsageRow), keys)

    def usage_of(self, day: str, rows: Iterable[JoinRow], keys: set[str]) -> Usage:
        """`usage` from ``users-1-day`` rows the caller already has (any row type with the join fields)."""
        users: dict[str, list[Number | None]] = {}
        for row in rows:
            key = self._key(row)
            if row.day != day:
                self._drop(DROP_OTHER_DAY)
            elif key is None:
                self._drop(DROP_MALFORMED)
            elif key in keys:  # only team members are kept: nobody else can join
                users[key] = [*(getattr(row, name) for name in COUNTER_FIELDS), row.ai_credits_used]
        return Usage(users=users)


def team_samples(
    joined: list[tuple[str, Membership, Usage]], newest: str, scope: Scope, scope_id: str
) -> list[Sample]:
    """Sums and distinct users per (team, window): ``28d`` over every joined day, ``1d`` for ``newest``.

    The join is per day, never across days: a member counts on a day only with a usage row that day.
    """
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
                    sums[slug, window] = values if acc is None else add_values(acc, values)
    out: list[Sample] = []
    for (slug, window), values in sorted(sums.items()):
        labels = (("org", scope_id), ("team", slug), ("scope", scope), ("window", window))
        out += [
            Sample(spec.name, labels, float(v))
            for spec, v in zip(SUMMED_SPECS, values, strict=True)
            if v is not None
        ]
        out.append(Sample(metrics.COPILOT_TEAM_ACTIVE_USERS.name, labels, float(len(users[slug, window]))))
    return out


class TeamsCollector(DayCollector):
    """Team-level Copilot series of one org or the enterprise, through that scope's client."""

    snapshot_kind = SNAPSHOT_KIND
    event = "copilot_teams"
    options: TeamOptions

    @cached_property
    def membership(self) -> DayFiles[Membership]:
        return self.day_files("user_teams", Membership)

    @cached_property
    def usage(self) -> DayFiles[Usage]:
        return self.day_files("users", Usage)

    def _files(self) -> tuple[DayFiles[Membership], DayFiles[Usage]]:
        return self.membership, self.usage

    async def _build(self, days: list[str], newest: str) -> list[Sample]:
        return self._samples([await self._day(day) for day in days], newest)

    # --- one day ---------------------------------------------------------------------------------

    async def _day(self, day: str) -> tuple[str, Membership, Usage]:
        membership, _ = await self.membership.get_or_fetch(day, self._fetch_membership)
        keys = {key for members in membership.teams.values() for key in members}
        if not keys:
            usage = Usage()  # no team that day: its users report is not needed
        else:
            usage, _ = await self.usage.get_or_fetch(day, lambda d: self._fetch_usage(d, keys))
        return day, membership, usage

    @cached_property
    def days(self) -> TeamDays:
        """One day's membership and usage files, reduced (shared with the history command)."""
        return TeamDays(self.reports, self.options.scope, self.options.scope_id, self.drop)

    async def _fetch_membership(self, day: str) -> Membership:
        return await self.days.membership(day)

    async def _fetch_usage(self, day: str, keys: set[str]) -> Usage:
        return await self.days.usage(day, keys)

    # --- the join --------------------------------------------------------------------------------

    def _samples(self, joined: list[tuple[str, Membership, Usage]], newest: str) -> list[Sample]:
        return team_samples(joined, newest, self.options.scope, self.options.scope_id)
