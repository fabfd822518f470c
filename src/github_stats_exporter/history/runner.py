"""Drives a history run: every unfinished task of the plan, then the merge into the OpenMetrics file.

Copilot tasks run day by day, oldest first (the targets of one day concurrently, bounded); then each
org's repositories for the weekly LOC; then the runs of every finished task are merged and written.
A task that fails after the client's and downloader's retries is counted and left unfinished, so a
rerun does exactly that work again; finished tasks are never asked again. It must not parse config
or build clients (`assembly` does) and never swallows cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from github_stats_exporter.errors import ExporterError
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.history.plan import Plan, Task, day_end, loc_key
from github_stats_exporter.history.progress import Progress
from github_stats_exporter.history.reports import REPORTS, ScopeDays
from github_stats_exporter.history.spill import merged, run_lines
from github_stats_exporter.history.state import Outcome, StateDir, TaskRecord
from github_stats_exporter.history.weeks import repo_weeks
from github_stats_exporter.history.writer import Written, write_openmetrics

log = structlog.get_logger(__name__)

DEFAULT_CONCURRENCY = 4


class RepoSource(Protocol):
    """An org's repositories (`scrape.repos.RepoDirectory` in production)."""

    async def repos(self) -> Sequence[_Named]: ...


class _Named(Protocol):
    @property
    def name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class LocOrg:
    """One org's client and repository list for the weekly LOC."""

    client: GitHubClient
    directory: RepoSource


@dataclass(slots=True)
class Summary:
    """What a run did: tasks by outcome, the file written, the requests sent and the bytes downloaded."""

    days: int = 0
    tasks: int = 0
    finished_before: int = 0
    no_report: int = 0
    repos: int = 0
    failed: list[str] = field(default_factory=list)
    requests: int = 0
    downloaded: int = 0
    written: Written | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


class Runner:
    """One history run over prepared sources; ``requests``/``downloaded`` read the running totals."""

    def __init__(
        self,
        plan: Plan,
        state: StateDir,
        scopes: Mapping[tuple[str, str], ScopeDays],
        loc: Mapping[str, LocOrg],
        progress: Progress,
        *,
        requests: Callable[[], int],
        downloaded: Callable[[], int],
        now: Callable[[], float],
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._plan = plan
        self._state = state
        self._scopes = scopes
        self._loc = loc
        self._progress = progress
        self._requests = requests
        self._downloaded = downloaded
        self._now = now
        self._sleep = sleep
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self._seen_bytes = 0
        self._keys: list[str] = []

    async def run(self, output: Path) -> Summary:
        """Every unfinished task of the plan, then ``output`` from the runs of every finished one."""
        summary = Summary(days=len(self._plan.span.days()), tasks=self._plan.task_count)
        first_requests, first_bytes = self._requests(), self._downloaded()
        self._seen_bytes = first_bytes
        if self._plan.targets:
            await self._copilot(summary)
        if self._plan.loc_orgs:
            await self._weeks(summary)
        summary.requests = self._requests() - first_requests
        summary.downloaded = self._downloaded() - first_bytes
        summary.written = self._write(output)
        return summary

    # --- Copilot ------------------------------------------------------------------------------------

    async def _copilot(self, summary: Summary) -> None:
        self._progress.start("copilot", self._plan.task_count, "report-day")
        for day, tasks in self._plan.days():
            counts = {"ok": 0, "no_report": 0, "failed": 0, "earlier": 0}
            todo: list[Task] = []
            for task in tasks:
                self._keys.append(task.key)
                record = self._state.done(task.key)
                if record is None:
                    todo.append(task)
                    continue
                counts["earlier"] += 1
                summary.finished_before += 1
                summary.no_report += record.outcome == "no_report"
            if counts["earlier"]:
                self._progress.step(counts["earlier"])
            async with asyncio.TaskGroup() as group:
                for task in todo:
                    group.create_task(self._task(task, counts, summary))
            self._progress.day(day, **counts)
        self._progress.end()

    async def _task(self, task: Task, counts: dict[str, int], summary: Summary) -> None:
        target = task.target
        async with self._limit:
            try:
                samples = await REPORTS[target.report].read(
                    self._scopes[target.scope, target.scope_id], task.day
                )
            except ExporterError as exc:
                counts["failed"] += 1
                summary.failed.append(task.key)
                log.warning("history_task_failed", target=str(target), day=task.day, error=str(exc))
                self._step()
                return
            stamp = day_end(task.day)
            lines = run_lines((stamp, s) for s in samples or ())
            outcome: Outcome = "no_report" if samples is None else "ok"
            await asyncio.to_thread(self._state.finish, task.key, lines, TaskRecord(outcome, len(lines)))
            counts[outcome] += 1
            summary.no_report += samples is None
            self._step()

    def _step(self) -> None:
        total = self._downloaded()
        self._progress.step(1, total - self._seen_bytes)
        self._seen_bytes = total

    # --- weekly LOC -------------------------------------------------------------------------------

    async def _weeks(self, summary: Summary) -> None:
        weeks = self._plan.weeks(self._now())
        listed: list[tuple[str, str, LocOrg]] = []
        for org in self._plan.loc_orgs:
            source = self._loc[org]
            try:
                repos = await source.directory.repos()
            except ExporterError as exc:
                summary.failed.append(f"loc-{org}")
                log.warning("history_repos_failed", org=org, error=str(exc))
                continue
            listed += [(org, repo.name, source) for repo in repos]
        summary.repos = len(listed)
        self._progress.start("loc", len(listed), "repo")
        async with asyncio.TaskGroup() as group:
            for org, repo, source in listed:
                group.create_task(self._repo(org, repo, source, weeks, summary))
        self._progress.end()

    async def _repo(self, org: str, repo: str, source: LocOrg, weeks: list[int], summary: Summary) -> None:
        key = loc_key(org, repo, self._plan.span)
        self._keys.append(key)
        if self._state.done(key) is not None:
            summary.finished_before += 1
            self._progress.step()
            return
        async with self._limit:
            try:
                points = await repo_weeks(source.client, org, repo, weeks, sleep=self._sleep)
            except ExporterError as exc:
                summary.failed.append(key)
                log.warning("history_repo_failed", org=org, repo=repo, error=str(exc))
                self._progress.step()
                return
            lines = run_lines(points)
            await asyncio.to_thread(self._state.finish, key, lines, TaskRecord("ok", len(lines)))
            self._progress.step()

    # --- the file ---------------------------------------------------------------------------------

    def _write(self, output: Path) -> Written:
        runs = [self._state.run_path(k) for k in sorted(set(self._keys)) if self._state.done(k) is not None]
        total = sum(record.samples for k in set(self._keys) if (record := self._state.done(k)) is not None)
        self._progress.start("write", total, "sample")
        try:
            with merged(runs, self._state.scratch) as lines:
                return write_openmetrics(lines, output, on_progress=self._progress.step)
        finally:
            self._progress.end()
