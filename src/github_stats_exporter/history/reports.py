"""One report of one scope and day as samples: the registry of report kinds the history command reads.

Each `ReportKind` names a live report (``organization``, ``users``, ``enterprise``, ``teams``…), its
requests per day and how its day becomes the live ``window="1d"`` series: usage reports go through
`copilot_map.ReportMapper` with the live `MapOptions`, teams through `copilot_teams.team_samples`,
repositories through `copilot_repos.repo_samples`. A new report is one more entry. This module must not write files, decide days or know the output format.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from github_stats_exporter.github.copilot import ReportRef, ReportType, Scope
from github_stats_exporter.model import Sample
from github_stats_exporter.scrape.copilot import report_labels
from github_stats_exporter.scrape.copilot_map import MapOptions, ReportMapper
from github_stats_exporter.scrape.copilot_parse import Record, SlimRecord, SlimUserRecord, UserRecord
from github_stats_exporter.scrape.copilot_repos import SERIES_SCOPES, RepoDays, repo_samples
from github_stats_exporter.scrape.copilot_teams import TeamDays, team_samples
from github_stats_exporter.scrape.day_reports import DayReports

DAY_WINDOW = "1d"
_NO_DAY = ""


class TeamUserRecord(UserRecord, kw_only=True, gc=False):
    """A ``users-1-day`` row as both the users mapper and the teams join read it."""

    organization_id: str | int | None = None
    enterprise_id: str | int | None = None


class SlimTeamUserRecord(SlimUserRecord, kw_only=True, gc=False):
    """`TeamUserRecord` without the breakdown arrays."""

    organization_id: str | int | None = None
    enterprise_id: str | int | None = None


UsersRow = TeamUserRecord | SlimTeamUserRecord


class ScopeDays:
    """Reads the 1-day reports of one org or enterprise and maps each day like the live collectors."""

    def __init__(
        self,
        reports: DayReports,
        scope: Scope,
        scope_id: str,
        mapping: MapOptions,
        drop: Callable[[str], None],
        drop_label_value: Callable[[str], None],
    ) -> None:
        self.scope = scope
        self.scope_id = scope_id
        self._reports = reports
        self._mapping = mapping
        self._teams = TeamDays(reports, scope, scope_id, drop)
        self._repos = RepoDays(reports, scope, scope_id, drop)
        self._drop_label_value = drop_label_value
        # users-1-day serves the users series and the teams join: read once per day, kept for that day.
        self._users_lock = asyncio.Lock()
        self._users_day = _NO_DAY
        self._users_rows: list[UsersRow] | None = None

    async def _users(self, day: str) -> list[UsersRow] | None:
        """``day``'s users-1-day rows (None on 204), downloaded once for both of its readers."""
        async with self._users_lock:
            if self._users_day != day:
                row_type = TeamUserRecord if self._mapping.breakdowns else SlimTeamUserRecord
                ref = ReportRef(self.scope, self.scope_id, "users")
                rows: list[UsersRow] | None = await self._reports.day(ref, day, row_type)
                self._users_day, self._users_rows = day, rows
            return self._users_rows

    async def usage(self, report_type: ReportType, day: str) -> list[Sample] | None:
        """The ``window="1d"`` series of an aggregate or users report of ``day``; None on 204."""
        ref = ReportRef(self.scope, self.scope_id, report_type)
        mapper = ReportMapper(report_labels(ref), self._mapping, {DAY_WINDOW: None})
        if report_type == "users":
            users = await self._users(day)
            if users is None:
                return None
            mapper.add_all(users)
        else:
            row_type: type[Record] | type[SlimRecord] = Record if self._mapping.breakdowns else SlimRecord
            aggregate: list[Record | SlimRecord] | None = await self._reports.day(ref, day, row_type)
            if aggregate is None:
                return None
            mapper.add_all(aggregate)
        return mapper.samples(DAY_WINDOW)

    async def teams(self, day: str) -> list[Sample] | None:
        """The ``window="1d"`` team series of ``day`` (users-1-day joined with user-teams-1-day)."""
        membership = await self._teams.membership(day)
        keys = {key for members in membership.teams.values() for key in members}
        if not keys:
            return []
        usage = self._teams.usage_of(day, await self._users(day) or [], keys)
        samples = team_samples([(day, membership, usage)], day, self.scope, self.scope_id)
        return [s for s in samples if s.label("window") == DAY_WINDOW]

    async def repositories(self, day: str) -> list[Sample] | None:
        """The ``window="1d"`` repository series and review stages of ``day`` (``repos-1-day``); None on 204."""
        record = await self._repos.day(day)
        if record is None:
            return None
        scope = SERIES_SCOPES[self.scope]
        samples = repo_samples([(day, record)], day, self.scope_id, scope, self._drop_label_value)
        # The review stages carry no window label; everything else keeps its 1d view only.
        return [s for s in samples if s.label("window") in (None, DAY_WINDOW)]


Read = Callable[[ScopeDays, str], Awaitable[list[Sample] | None]]


@dataclass(frozen=True, slots=True)
class ReportKind:
    """A report the history reads per day: its config name, scopes, requests per day and reader.

    ``shares`` names a report whose file this one also reads: when both are planned for a scope, that
    file is downloaded once, so this report costs one request less per day.
    """

    name: str
    scopes: tuple[Scope, ...]
    requests_per_day: int
    read: Read
    shares: str = ""

    def requests(self, planned: set[str]) -> int:
        """Requests per day when the scope's ``planned`` reports are read together."""
        return self.requests_per_day - (1 if self.shares in planned else 0)


def _usage(report_type: ReportType) -> Read:
    async def read(days: ScopeDays, day: str) -> list[Sample] | None:
        return await days.usage(report_type, day)

    return read


async def _teams(days: ScopeDays, day: str) -> list[Sample] | None:
    return await days.teams(day)


async def _repositories(days: ScopeDays, day: str) -> list[Sample] | None:
    return await days.repositories(day)


REPORTS: dict[str, ReportKind] = {
    kind.name: kind
    for kind in (
        ReportKind("organization", ("org",), 1, _usage("organization")),
        ReportKind("enterprise", ("enterprise",), 1, _usage("enterprise")),
        ReportKind("users", ("org", "enterprise"), 1, _usage("users")),
        # user-teams-1-day, then users-1-day on days that have teams (shared with the users report).
        ReportKind("teams", ("org", "enterprise"), 2, _teams, shares="users"),
        ReportKind("repositories", ("org", "enterprise"), 1, _repositories),
    )
}
"""Every report kind, by name; the order is the order of the work within a day."""
