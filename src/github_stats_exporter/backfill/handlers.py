"""Job handlers: route each backfill job to the collector that owns it, using the collector's own code.

Activity jobs call ``ActivityCollector.backfill(repo, window)`` (fills the event ledger, then
recomputes the repo's rolling-24h snapshot, so window-scoped counts never reach the live gauges);
LOC jobs call ``LocCollector.backfill(repo)``; Copilot jobs call the 1-day endpoint through
``CopilotCollector.backfill(report, day)``. This module decides only routing; a failure is permanent
when an error in its cause chain says so (``transient`` is False, set where the error was raised, see
`errors.py`). It never talks to GitHub or the store itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date
from typing import Protocol, TypeVar

from github_stats_exporter.backfill.base import Handler
from github_stats_exporter.backfill.jobs import BackfillJob, PermanentJobError
from github_stats_exporter.errors import permanent_cause
from github_stats_exporter.github.copilot import ReportRef
from github_stats_exporter.model import DayWindow, JobKind, TimeWindow

ALL_REPOS = "*"


class ActivityBackfiller(Protocol):
    async def backfill(self, repo: str, window: TimeWindow) -> None: ...


class LocBackfiller(Protocol):
    async def backfill(self, repo: str) -> None: ...


class CopilotBackfiller(Protocol):
    async def backfill(self, ref: ReportRef, day: date) -> None: ...


RepoLister = Callable[[], Awaitable[Sequence[str]]]
"""Lists an org's selected repository names (for whole-org jobs, target ``*``)."""

_K = TypeVar("_K")
_V = TypeVar("_V")


class CollectorHandlers:
    """The handler registry built from the collectors of every configured org and Copilot scope.

    ``activity`` and ``loc`` are keyed by org login, ``copilot`` by ``(scope, scope_id)``; lookups
    ignore case as GitHub does. ``repos`` lists an org's repositories for whole-org jobs (target ``*``).
    """

    def __init__(
        self,
        *,
        activity: Mapping[str, ActivityBackfiller] | None = None,
        loc: Mapping[str, LocBackfiller] | None = None,
        copilot: Mapping[tuple[str, str], CopilotBackfiller] | None = None,
        repos: Mapping[str, RepoLister] | None = None,
    ) -> None:
        self._activity = {k.lower(): v for k, v in (activity or {}).items()}
        self._loc = {k.lower(): v for k, v in (loc or {}).items()}
        self._copilot = {(s, i.lower()): v for (s, i), v in (copilot or {}).items()}
        self._repos = {k.lower(): v for k, v in (repos or {}).items()}

    def registry(self) -> dict[JobKind, Handler]:
        """The mapping the worker takes: one handler per job kind."""
        return {
            JobKind.ACTIVITY: self.activity,
            JobKind.LOC: self.loc,
            JobKind.COPILOT: self.copilot,
        }

    async def activity(self, job: BackfillJob) -> None:
        collector = self._lookup(self._activity, job.org.lower(), job)
        window = job.missed.window
        if not isinstance(window, TimeWindow):  # MissedWindow refuses this combination
            msg = "unreachable"
            raise AssertionError(msg)
        for repo in await self._targets(job):
            await self._call(collector.backfill(repo, window))

    async def loc(self, job: BackfillJob) -> None:
        collector = self._lookup(self._loc, job.org.lower(), job)
        for repo in await self._targets(job):
            await self._call(collector.backfill(repo))

    async def copilot(self, job: BackfillJob) -> None:
        missed = job.missed
        collector = self._lookup(self._copilot, (missed.scope, missed.scope_id.lower()), job)
        if not isinstance(missed.window, DayWindow):  # MissedWindow refuses this combination
            msg = "unreachable"
            raise AssertionError(msg)
        match missed.target:
            case "organization" | "enterprise" | "users" as report_type:
                pass
            case _:
                msg = f"unknown Copilot report type {missed.target!r}"
                raise PermanentJobError(msg)
        try:
            ref = ReportRef(missed.scope, missed.scope_id, report_type)
        except ValueError as exc:  # e.g. an ``enterprise`` report of an org
            raise PermanentJobError(str(exc)) from exc
        for day in missed.window.days:
            try:
                await self._call(collector.backfill(ref, day))
            except ValueError as exc:  # the collector refuses a report it does not serve
                raise PermanentJobError(str(exc)) from exc

    async def _targets(self, job: BackfillJob) -> list[str]:
        if job.missed.target != ALL_REPOS:
            return [job.missed.target]
        lister = self._lookup(self._repos, job.org.lower(), job)
        return list(await lister())

    @staticmethod
    def _lookup(table: Mapping[_K, _V], key: _K, job: BackfillJob) -> _V:
        try:
            return table[key]
        except KeyError:
            missed = job.missed
            msg = f"no {missed.kind} collector for {missed.scope} {missed.scope_id!r} on this replica (not configured)"
            raise PermanentJobError(msg) from None

    @staticmethod
    async def _call(call: Awaitable[None]) -> None:
        try:
            await call
        except PermanentJobError:
            raise
        except Exception as exc:
            # An answer that repeats however often we ask (404, a plain 403): the job goes to the DLQ
            # at once (an operator can replay it after fixing permissions), instead of spending hours
            # of retries and API budget.
            cause = permanent_cause(exc)
            if cause is None:
                raise
            msg = f"{type(cause).__name__}: {cause}"
            raise PermanentJobError(msg) from exc
