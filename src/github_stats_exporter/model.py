"""Value types shared by every layer: samples, snapshots, snapshot keys, missed windows.

Pure data only. This module must not import anything else from the package and must not do I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

import msgspec


class Role(StrEnum):
    """What a replica does: ``leader`` runs scheduled collection, ``follower`` serves and backfills;
    ``starting`` until the first role decision."""

    STARTING = "starting"
    LEADER = "leader"
    FOLLOWER = "follower"


Labels = tuple[tuple[str, str], ...]
"""Label pairs in the order the metric contract declares them (not sorted alphabetically)."""


class Sample(msgspec.Struct, frozen=True, gc=False):
    """One exposition line: a metric family name, its labels and a value.

    ``name`` is the *family* name from the metric contract (`metrics.py`); for counters the
    renderer appends ``_total`` itself, so a counter sample never carries the suffix here.

    A frozen msgspec Struct rather than a frozen dataclass: collectors build millions of these and
    the Struct's constructor is about 7x cheaper (docs/benchmarks.md, "Every breakdown on"); it
    holds only strings and a float, so it never needs the cyclic GC (``gc=False``).
    """

    name: str
    labels: Labels
    value: float

    def label(self, key: str) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class SnapshotKey:
    """Identity of one collection unit, e.g. ``activity/acme/widgets`` or ``copilot/acme/org/28d``.

    ``kind`` groups snapshots by producer; ``parts`` identify the unit inside it.
    """

    kind: str
    parts: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "/".join((self.kind, *self.parts))

    @classmethod
    def parse(cls, text: str) -> SnapshotKey:
        kind, *parts = text.split("/")
        if not kind:
            msg = f"snapshot key {text!r} has an empty kind"
            raise ValueError(msg)
        return cls(kind, tuple(parts))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The complete set of series one collection unit owns, replaced atomically in the store.

    ``version`` is assigned by the store on write (monotonic per key); producers leave it 0.
    ``produced_at`` is the Unix time the producer finished collecting.
    """

    key: SnapshotKey
    samples: tuple[Sample, ...]
    produced_at: float
    version: int = 0
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def format_value(value: float) -> str:
    """Render a sample value the way both exposition formats accept it.

    Integral floats print without a fraction (``3`` not ``3.0``) so golden files stay stable.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class JobKind(StrEnum):
    """The collector that re-collects a missed window (and so the backfill handler that runs its job)."""

    ACTIVITY = "activity"
    LOC = "loc"
    COPILOT = "copilot"


class ActivityReason(StrEnum):
    """Why the activity collector missed a window: the stream that failed after the client's retries."""

    COMMITS_FAILED = "activity_commits_failed"
    PULLS_FAILED = "activity_pulls_failed"
    REVIEWS_FAILED = "activity_reviews_failed"
    ISSUE_COMMENTS_FAILED = "activity_issue_comments_failed"


class LocReason(StrEnum):
    """Why the LOC collector missed a week: `stats/contributors` or a step of its commit-sampling fallback."""

    CONTRIBUTOR_STATS_FAILED = "contributor_stats_failed"
    FALLBACK_LIST_COMMITS_FAILED = "fallback_list_commits_failed"
    FALLBACK_COMMIT_DETAIL_FAILED = "fallback_commit_detail_failed"


class CopilotReason(StrEnum):
    """Why the Copilot collector missed days: which step of a report failed."""

    REPORT_FETCH_ERROR = "copilot_report_fetch_error"
    REPORT_DOWNLOAD_ERROR = "copilot_report_download_error"
    REPORT_PARSE_ERROR = "copilot_report_parse_error"


MissedReason = ActivityReason | LocReason | CopilotReason
"""A reason's value is a metric label and part of the backfill wire format: never rename one."""

REASON_TYPES: dict[JobKind, type[MissedReason]] = {
    JobKind.ACTIVITY: ActivityReason,
    JobKind.LOC: LocReason,
    JobKind.COPILOT: CopilotReason,
}
"""The reason enum of each kind's collector."""

Scope = Literal["org", "enterprise"]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """``[start, end]`` in Unix seconds (activity events, a LOC week)."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or self.end < self.start:
            msg = f"a time window needs finite start <= end, got [{self.start}, {self.end}]"
            raise ValueError(msg)

    def union(self, other: TimeWindow) -> TimeWindow:
        """The smallest window covering both."""
        return TimeWindow(min(self.start, other.start), max(self.end, other.end))


@dataclass(frozen=True, slots=True)
class DayWindow:
    """The UTC days ``first`` to ``last``, both included (Copilot reports are per day)."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            msg = f"a day window needs first <= last, got {self.first}..{self.last}"
            raise ValueError(msg)

    @property
    def days(self) -> tuple[date, ...]:
        """Every day of the window, oldest first."""
        count = (self.last - self.first).days + 1
        return tuple(self.first + timedelta(days=offset) for offset in range(count))


Window = TimeWindow | DayWindow
"""Activity and LOC miss time ranges, Copilot misses whole days."""


@dataclass(frozen=True, slots=True)
class MissedWindow:
    """Work a collector could not finish after retries, recorded for backfill.

    The recording collector names its own ``kind``; ``reason`` is that collector's reason enum and
    ``window`` a `DayWindow` for Copilot, a `TimeWindow` otherwise (checked here, so a job built
    from it is always runnable). ``scope_id`` is the org login or enterprise slug; ``target`` the
    repository name for activity/LOC work or the report type (``organization`` / ``users`` /
    ``enterprise``) for Copilot work.
    """

    kind: JobKind
    scope: Scope
    scope_id: str
    target: str
    reason: MissedReason
    window: Window

    def __post_init__(self) -> None:
        if not isinstance(self.reason, REASON_TYPES[self.kind]):
            msg = f"{self.kind} window with a reason of another collector: {self.reason!r}"
            raise TypeError(msg)
        wanted = DayWindow if self.kind is JobKind.COPILOT else TimeWindow
        if not isinstance(self.window, wanted):
            msg = f"{self.kind} window must be a {wanted.__name__}, got {self.window!r}"
            raise TypeError(msg)
