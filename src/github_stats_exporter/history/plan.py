"""What a history run covers: the span of days (clipped to what the API keeps), the report targets, the tasks.

Pure: dates and names in, values out. It must not do I/O or read a clock (the caller passes today).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

from github_stats_exporter.errors import ExporterError
from github_stats_exporter.github.copilot import Scope
from github_stats_exporter.scrape.locstate import WEEK_SECONDS, week_start

API_HISTORY_DAYS = 365
"""1-day reports reach back up to one year before the current date (docs/history.md)."""
REPORT_LAG_DAYS = 2
"""A day's report is published within two full UTC days after the day closes."""
DAY_SECONDS = 86400


class HistoryError(ExporterError):
    """The history command cannot run as asked (bad span, state of another plan, no promtool)."""

    transient = False


@dataclass(frozen=True, slots=True)
class Span:
    """The days to read, oldest first, and the warnings about how the request was adjusted."""

    first: date
    last: date
    warnings: tuple[str, ...] = ()

    def days(self) -> list[str]:
        count = (self.last - self.first).days + 1
        return [(self.first + timedelta(days=i)).isoformat() for i in range(count)]

    @property
    def start_ts(self) -> int:
        """Unix seconds of the first day's start."""
        return int(datetime.combine(self.first, datetime.min.time(), UTC).timestamp())

    @property
    def end_ts(self) -> int:
        """Unix seconds of the last second of the last day."""
        return day_end(self.last.isoformat())


def day_end(day: str) -> int:
    """The timestamp a day's sample carries: the last second of that UTC day."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp()
    return int(start) + DAY_SECONDS - 1


def resolve_span(today: date, first: date, last: date | None) -> Span:
    """``first``..``last`` (default: the newest available day) clipped to what the API serves."""
    newest = today - timedelta(days=REPORT_LAG_DAYS)
    oldest = today - timedelta(days=API_HISTORY_DAYS)
    warnings: list[str] = []
    if last is None:
        last = newest
    elif last > newest:
        warnings.append(f"--to {last} is not available yet; using the newest available day {newest}")
        last = newest
    if first < oldest:
        warnings.append(f"--from {first} is older than the API keeps (one year); starting at {oldest}")
        first = oldest
    if first > last:
        msg = f"nothing to read: --from {first} is after --to {last}"
        raise HistoryError(msg)
    return Span(first, last, tuple(warnings))


@dataclass(frozen=True, slots=True)
class Target:
    """One report kind (a name of `reports.REPORTS`) of one org or enterprise."""

    scope: Scope
    scope_id: str
    report: str

    def __str__(self) -> str:
        return f"{self.scope}/{self.scope_id}/{self.report}"


@dataclass(frozen=True, slots=True)
class Task:
    """One target on one day: the unit of work, of resumption and of one run file."""

    target: Target
    day: str

    @property
    def key(self) -> str:
        t = self.target
        return "copilot-" + "-".join(quote(p, safe="") for p in (t.scope, t.scope_id, t.report, self.day))


def loc_key(org: str, repo: str, span: Span) -> str:
    """The run key of one repository's weeks within ``span``."""
    parts = (org, repo, span.first.isoformat(), span.last.isoformat())
    return "loc-" + "-".join(quote(p, safe="") for p in parts)


@dataclass(frozen=True, slots=True)
class Plan:
    """The span, the Copilot targets and the orgs whose weekly LOC is read."""

    span: Span
    targets: tuple[Target, ...]
    loc_orgs: tuple[str, ...]

    def days(self) -> Iterator[tuple[str, list[Task]]]:
        """Each day with its tasks, oldest day first."""
        for day in self.span.days():
            yield day, [Task(target, day) for target in self.targets]

    @property
    def task_count(self) -> int:
        return len(self.targets) * len(self.span.days())

    def weeks(self, now: float) -> list[int]:
        """Starts (Sunday 00:00 UTC) of the complete weeks at ``now`` whose last second lies in the span."""
        out: list[int] = []
        week = week_start(self.span.start_ts)
        while week + WEEK_SECONDS <= now:
            end = week + WEEK_SECONDS - 1
            if self.span.start_ts <= end <= self.span.end_ts:
                out.append(week)
            elif end > self.span.end_ts:
                break
            week += WEEK_SECONDS
        return out
