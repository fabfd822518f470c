"""Job handlers: route each backfill job to the collector that owns it, using the collector's own code.

Activity jobs call ``ActivityCollector.backfill(repo, start, end)`` (fills the event ledger, then
recomputes the repo's rolling-24h snapshot, so window-scoped counts never reach the live gauges);
LOC jobs call ``LocCollector.backfill(repo)``; Copilot jobs call the 1-day endpoint through
``CopilotCollector.backfill(scope, scope_id, report_type, day)``. This module decides only routing and
which failures are permanent; it never talks to GitHub or the store itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from github_stats_exporter.backfill.base import Handler
from github_stats_exporter.backfill.jobs import BackfillJob, JobKind, PermanentJobError
from github_stats_exporter.github.errors import Forbidden, ForeignHostError, NotFound, Unprocessable

# Answers that repeat however often we ask: the job goes to the DLQ at once (an operator can replay
# it after fixing permissions), instead of spending hours of retries and API budget.
PERMANENT_CAUSES: tuple[type[BaseException], ...] = (NotFound, Forbidden, Unprocessable, ForeignHostError)
ALL_REPOS = "*"


class ActivityBackfiller(Protocol):
    async def backfill(self, repo: str, start: float, end: float) -> None: ...


class LocBackfiller(Protocol):
    async def backfill(self, repo: str) -> None: ...


class CopilotBackfiller(Protocol):
    async def backfill(self, scope: str, scope_id: str, report_type: str, day: str) -> None: ...


RepoLister = Callable[[], Awaitable[Sequence[str]]]
"""Lists an org's selected repository names (for whole-org jobs, target ``*``)."""

_K = TypeVar("_K")
_V = TypeVar("_V")


def _permanent_cause(exc: BaseException) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, PERMANENT_CAUSES):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


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
        collector = self._lookup(self._activity, job.scope_id.lower(), job)
        for repo in await self._targets(job):
            await self._call(collector.backfill(repo, job.start, job.end))

    async def loc(self, job: BackfillJob) -> None:
        collector = self._lookup(self._loc, job.scope_id.lower(), job)
        for repo in await self._targets(job):
            await self._call(collector.backfill(repo))

    async def copilot(self, job: BackfillJob) -> None:
        collector = self._lookup(self._copilot, (job.scope, job.scope_id.lower()), job)
        try:
            await self._call(collector.backfill(job.scope, job.scope_id, job.target, job.day))
        except ValueError as exc:  # the collector refuses a report type or day it cannot serve
            raise PermanentJobError(str(exc)) from exc

    async def _targets(self, job: BackfillJob) -> list[str]:
        if job.target != ALL_REPOS:
            return [job.target]
        lister = self._lookup(self._repos, job.scope_id.lower(), job)
        return list(await lister())

    @staticmethod
    def _lookup(table: Mapping[_K, _V], key: _K, job: BackfillJob) -> _V:
        try:
            return table[key]
        except KeyError:
            msg = f"no {job.kind} collector for {job.scope} {job.scope_id!r} on this replica (not configured)"
            raise PermanentJobError(msg) from None

    @staticmethod
    async def _call(call: Awaitable[None]) -> None:
        try:
            await call
        except PermanentJobError:
            raise
        except Exception as exc:
            cause = _permanent_cause(exc)
            if cause is None:
                raise
            msg = f"{type(cause).__name__}: {cause}"
            raise PermanentJobError(msg) from exc
