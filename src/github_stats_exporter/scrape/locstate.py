"""The pure core of weekly LOC: week arithmetic, the per-repo state machine, totals and samples.

Everything here is a synchronous function of values (no I/O, no clock, no GitHub client), so the
state machine is tested table-driven. `loc.py` loads and stores these values and talks to GitHub.

Weeks start on Sunday 00:00 UTC; the *selected* week of time ``now`` is the newest week start ``w``
with ``w + 7 days <= now`` (the latest complete week).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import msgspec

from github_stats_exporter import metrics
from github_stats_exporter.github.stats import CommitRef, CommitStats, ContributorWeeks
from github_stats_exporter.model import Sample
from github_stats_exporter.store import codec

WEEK_SECONDS = 7 * 86400
HOUR_SECONDS = 3600
FIRST_SUNDAY = 3 * 86400
"""1970-01-04 00:00 UTC, the first Sunday of the Unix epoch."""

PRIMARY = "stats_contributors"
FALLBACK = "sampled_commit_stats"
MODES = (PRIMARY, FALLBACK)
UNKNOWN_USER = "unknown"
"""User label of lines whose author has no linked GitHub account."""

Verdict = Literal["publish", "hold", "fallback"]
"""What to do with a ready stats answer: publish it, hold the old snapshot (zeros not yet confirmed), or switch."""


def week_start(t: float) -> int:
    """Start (Sunday 00:00 UTC) of the week containing ``t``."""
    return int((t - FIRST_SUNDAY) // WEEK_SECONDS) * WEEK_SECONDS + FIRST_SUNDAY


def loc_week(now: float) -> int:
    """The latest complete week at ``now``: the newest Sunday start ``w`` with ``w + 7 days <= now``."""
    return week_start(now) - WEEK_SECONDS


def hour_bucket(now: float) -> int:
    """The clock hour (Unix hours) the fallback budget of ``now`` is booked under."""
    return int(now // HOUR_SECONDS)


@dataclass(frozen=True, slots=True)
class LocPolicy:
    """The ``loc`` config section as plain numbers (seconds, counts)."""

    refresh_interval: float = 86400.0
    fallback_enabled: bool = False
    max_commits_per_week: int = 500
    detail_calls_per_hour: int = 0
    zero_detection_windows: int = 0
    cooldown: float = 7 * 86400.0

    @property
    def detection(self) -> bool:
        """Zeroed stats can switch a repo to commit sampling (needs the fallback and a window count)."""
        return self.fallback_enabled and self.zero_detection_windows > 0


@dataclass(frozen=True, slots=True)
class LocState:
    """Per-repo LOC state, persisted in the store so it survives restarts and leader changes.

    ``last_refresh``/``week`` describe the last *successful* refresh; ``zero_windows`` counts
    consecutive ready answers with commits but no line counts; ``warming`` is a pending 202;
    ``failed`` marks a refresh that failed after retries; ``more`` means commit sampling stopped at
    the hourly budget with commits left for the next cycles.
    """

    mode: str = PRIMARY
    fallback_until: float = 0.0
    zero_windows: int = 0
    last_refresh: float = 0.0
    week: int = 0
    warming: bool = False
    failed: bool = False
    more: bool = False

    def to_record(self) -> bytes:
        return codec.encode(self)

    @classmethod
    def from_record(cls, record: bytes | None) -> LocState:
        """Read a stored record; an unreadable one falls back to defaults (a fresh repo is refreshed).

        Records of earlier versions held every field as a string; the codec's lenient read takes them.
        """
        if record is None:
            return cls()
        try:
            state = codec.decode(record, LocState)
        except codec.RecordError:
            return cls()
        return state if state.mode in MODES else replace(state, mode=PRIMARY)


def current_mode(state: LocState, now: float, policy: LocPolicy) -> LocState:
    """The state with an expired (or no longer allowed) fallback turned back into primary mode.

    ``zero_windows`` is kept, so a repo whose stats are still zeroed goes straight back to sampling
    on its next ready answer instead of losing its values for another detection period.
    """
    if state.mode == FALLBACK and (now >= state.fallback_until or not policy.fallback_enabled):
        return replace(state, mode=PRIMARY, more=False)
    return state


def is_due(state: LocState, now: float, week: int, policy: LocPolicy) -> bool:
    """Whether the repo needs GitHub this cycle (everything else costs no request)."""
    if state.warming or state.failed or state.week != week:
        return True
    if state.mode == FALLBACK and state.more:
        return True
    if state.mode == PRIMARY and policy.detection and state.zero_windows > 0:
        # Suspected zeroing is confirmed cycle by cycle (a 304 is free), not once a day.
        return True
    return now - state.last_refresh >= policy.refresh_interval


def observe(state: LocState, zeroed: bool, now: float, policy: LocPolicy) -> tuple[LocState, Verdict]:
    """Feed one ready stats answer (``zeroed``: commits but no line counts) into the zero detection."""
    if not (zeroed and policy.detection):
        return replace(state, zero_windows=0), "publish"
    windows = state.zero_windows + 1
    if windows >= policy.zero_detection_windows:
        switched = replace(
            state, zero_windows=windows, mode=FALLBACK, fallback_until=now + policy.cooldown, more=False
        )
        return switched, "fallback"
    return replace(state, zero_windows=windows), "hold"


@dataclass(frozen=True, slots=True)
class WeekTotals:
    """Lines per user label in one week; ``commits`` counts every commit in the week (all users)."""

    lines: Mapping[str, tuple[int, int]]
    commits: int

    @property
    def zeroed(self) -> bool:
        """Commits but not a single added or removed line: GitHub's zeroing of repos with ≥ 10k commits."""
        return self.commits > 0 and not any(a or d for a, d in self.lines.values())


def week_totals(contributors: Iterable[ContributorWeeks], week: int) -> WeekTotals:
    """Sum one week of ``stats/contributors`` per login; entries without an author are summed as ``unknown``."""
    lines: dict[str, tuple[int, int]] = {}
    commits = 0
    for contributor in contributors:
        user = contributor.login or UNKNOWN_USER
        for cell in contributor.weeks:
            # GitHub sends Sunday-aligned starts; a range match also accepts a differently aligned w.
            if week <= cell.w < week + WEEK_SECONDS:
                a, d = lines.get(user, (0, 0))
                lines[user] = (a + cell.a, d + cell.d)
                commits += cell.c
    return WeekTotals(lines, commits)


# --- commit sampling ------------------------------------------------------------------------------

CachedCommit = tuple[str, int, int, bool]
"""(user label, additions, deletions, valid) of one detailed commit."""


def week_commits(refs: Iterable[CommitRef], week: int) -> list[CommitRef]:
    """Non-merge commits *authored* in the week, oldest first (the order the per-week cap keeps)."""
    chosen = [r for r in refs if r.parents <= 1 and week <= r.authored_at < week + WEEK_SECONDS]
    return sorted(chosen, key=lambda r: (r.authored_at, r.sha))


def cached_commit(ref: CommitRef, detail: CommitStats) -> CachedCommit:
    """The cache entry of a detailed commit; the detail's author wins over the listing's."""
    user = detail.login or ref.login or UNKNOWN_USER
    return (user, detail.additions, detail.deletions, detail.valid)


def sampled_totals(
    selected: Sequence[CommitRef], cache: Mapping[str, CachedCommit]
) -> tuple[WeekTotals, int]:
    """Lines per user over the selected commits found in ``cache``, and how many are missing or invalid."""
    lines: dict[str, tuple[int, int]] = {}
    gaps = 0
    for ref in selected:
        entry = cache.get(ref.sha)
        if entry is None or not entry[3]:
            gaps += 1
            continue
        user, added, removed, _ = entry
        a, d = lines.get(user, (0, 0))
        lines[user] = (a + added, d + removed)
    return WeekTotals(lines, len(selected)), gaps


class _CommitCache(msgspec.Struct, forbid_unknown_fields=False):
    """The stored commit-detail cache of one repo and week.

    Records of earlier versions held ``commits`` as JSON text inside the record; they are still read.
    """

    week: int
    commits: dict[str, tuple[str, int, int, bool]] | str = {}


def encode_cache(week: int, cache: Mapping[str, CachedCommit]) -> bytes:
    return codec.encode(_CommitCache(week, dict(cache)))


def decode_cache(record: bytes | None, week: int) -> dict[str, CachedCommit]:
    """The cached details of ``week``; a record of another week or an unreadable one is empty."""
    if record is None:
        return {}
    try:
        stored = codec.decode(record, _CommitCache)
        if stored.week != week:
            return {}
        commits = stored.commits
        if isinstance(commits, str):
            commits = codec.decode(commits, dict[str, tuple[str, int, int, bool]])
    except codec.RecordError:
        return {}
    return dict(commits)


# --- samples --------------------------------------------------------------------------------------


def loc_samples(
    org: str, repo: str, totals: WeekTotals, *, mode: str, incomplete: bool
) -> tuple[Sample, ...]:
    """The repo's complete LOC snapshot: both LOC gauges per active user, the source one-hot, the partial flag.

    Only users with added or removed lines in the week get series (not every contributor ever).
    """
    out: list[Sample] = []
    for user, (added, removed) in sorted(totals.lines.items()):
        if added or removed:
            labels = {"org": org, "repo": repo, "user": user}
            out.append(metrics.ACTIVITY_LOC_ADDED.sample(added, labels))
            out.append(metrics.ACTIVITY_LOC_REMOVED.sample(removed, labels))
    out.extend(
        metrics.LOC_SOURCE_MODE.sample(1 if m == mode else 0, {"org": org, "repo": repo, "mode": m})
        for m in MODES
    )
    out.append(metrics.LOC_FALLBACK_INCOMPLETE.sample(1 if incomplete else 0, {"org": org, "repo": repo}))
    return tuple(out)
