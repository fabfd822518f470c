"""The per-repo activity event ledger: recent events, fetch checkpoints, and the rolling-24h counts.

A `Ledger` holds every counted event of one repository from the last 24 h plus a margin, deduplicated
by event id, together with the per-stream fetch checkpoints that make collection incremental. The
rolling counts are recomputed from it at any ``now``, so events age out of the window without a
request. This module also owns the attribution rules (who an event is counted for) and the ledger's
checkpoint record (encoded by `store.codec`). It does no I/O and knows nothing about HTTP or the store API.
"""

from __future__ import annotations

import math
import re
from enum import IntEnum

import msgspec

from github_stats_exporter import metrics
from github_stats_exporter.metrics import MetricSpec
from github_stats_exporter.model import Sample
from github_stats_exporter.store import codec

WINDOW_SECONDS = 86400.0
"""The rolling window: counts cover ``[now - 24h, now)``."""
MARGIN_SECONDS = 3600.0
"""Events are kept this long past the window (clock skew, backfill windows that end a bit early)."""
OVERLAP_SECONDS = 120.0
"""A stream's ``since`` trails its newest seen event by this much (clock skew, eventual consistency)."""
FORMAT_VERSION = 1

STREAMS = ("commits", "pulls", "comments")

_NOREPLY = re.compile(r"^(?:\d+\+)?([^@+]+)@users\.noreply\.github\.com$", re.IGNORECASE)

UNKNOWN_USER = "unknown"
UNLINKED_GIT_AUTHOR = "unlinked_git_author"
UNATTRIBUTED_COMMIT = "unattributed_commit"


class EventKind(IntEnum):
    """What an event counts towards; the integer is its stable on-disk code."""

    COMMIT = 0
    PR_OPENED = 1
    PR_MERGED = 2
    REVIEW = 3
    COMMENT = 4


METRIC_OF: dict[EventKind, MetricSpec] = {
    EventKind.COMMIT: metrics.ACTIVITY_COMMITS,
    EventKind.PR_OPENED: metrics.ACTIVITY_PRS_OPENED,
    EventKind.PR_MERGED: metrics.ACTIVITY_PRS_MERGED,
    EventKind.REVIEW: metrics.ACTIVITY_REVIEWS,
    EventKind.COMMENT: metrics.ACTIVITY_ISSUE_COMMENTS,
}


# --- attribution ----------------------------------------------------------------------------------


def commit_user(author_login: str | None, email: str, name: str) -> str:
    """Who a commit counts for.

    The linked account's login; else the login inside a noreply email (``ID+login@users.noreply.github.com``
    or ``login@users.noreply.github.com``); else ``unlinked_git_author`` when git recorded a name or an
    email; else ``unattributed_commit``.
    """
    if author_login:
        return author_login
    match = _NOREPLY.match(email)
    if match:
        return match.group(1)
    if name or email:
        return UNLINKED_GIT_AUTHOR
    return UNATTRIBUTED_COMMIT


def user_label(login: str | None) -> str:
    """The user of a PR, review or comment: its login (bots and ``ghost`` included), else ``unknown``."""
    return login or UNKNOWN_USER


# --- ledger ---------------------------------------------------------------------------------------


StreamCheckpoint = tuple[int, float]
"""Where one stream (commits / pulls / comments) continues: ``(since, fetched_at)``.

``since`` is the lower bound of the next request (Unix seconds, whole); every event at or after it up
to ``fetched_at`` has been seen. ``fetched_at`` is when the last successful fetch started. A plain tuple
of two numbers, not a class: a process keeps three per repository, and the cyclic garbage collector
stops tracking such a tuple (and a dict holding only such values) after one pass, while it scans every
class instance on every full collection (docs/benchmarks.md, "Fewer objects for the garbage collector").
"""


class LedgerFormatError(ValueError):
    """A stored ledger could not be read (corrupt, or written by an incompatible version)."""


class _Wire(msgspec.Struct, forbid_unknown_fields=False):
    v: int
    users: list[str]
    events: list[tuple[int, str, float, int]]
    streams: dict[str, tuple[int, float]] = {}
    prs: dict[str, int] = {}


class _Record(msgspec.Struct, forbid_unknown_fields=False):
    """The checkpoint: a revision tag (lets a reader skip decoding) and the ledger.

    Records written before `store.codec` held the ledger as JSON text inside the JSON record; they are
    still read (``str``). An empty record (``{}``) is how those versions forgot a repo.
    """

    rev: str = ""
    ledger: _Wire | str | None = None


class _Revision(msgspec.Struct, forbid_unknown_fields=False):
    rev: str = ""


class Ledger:
    """Recent activity events of one repository, keyed by (kind, event id), plus fetch checkpoints.

    ``pr_reviewed`` remembers, per PR number, the ``updated_at`` at which its reviews were last read,
    so reviews are fetched only for PRs that changed since.
    """

    __slots__ = ("_valid_until", "events", "pr_reviewed", "streams")

    def __init__(self) -> None:
        self.events: dict[tuple[int, str], tuple[float, str]] = {}
        self.streams: dict[str, StreamCheckpoint] = {}
        self.pr_reviewed: dict[int, float] = {}
        self._valid_until = -math.inf

    def __len__(self) -> int:
        return len(self.events)

    def add(self, kind: EventKind, event_id: str, ts: float, user: str) -> bool:
        """Record an event; True when it is new or its time/user changed (a repeat is a no-op)."""
        key = (int(kind), event_id)
        value = (ts, user)
        if self.events.get(key) == value:
            return False
        self.events[key] = value
        self._valid_until = -math.inf
        return True

    def trim(self, floor: float) -> int:
        """Drop events and PR marks older than ``floor``; returns how many events went away."""
        old = [key for key, (ts, _) in self.events.items() if ts < floor]
        for key in old:
            del self.events[key]
        for number in [n for n, updated in self.pr_reviewed.items() if updated < floor]:
            del self.pr_reviewed[number]
        return len(old)

    # --- checkpoints -------------------------------------------------------------------------------

    def since_for(self, stream: str, now: float) -> int:
        """The ``since`` of the stream's next fetch.

        First run, or a last fetch longer ago than window + margin (an outage): ``now - 24h - margin``,
        never older, so an outage does not widen the window. Otherwise the stored value, unchanged, so
        an idle repo asks the very same URL and GitHub can answer 304.
        """
        floor = int(now - WINDOW_SECONDS - MARGIN_SECONDS)
        checkpoint = self.streams.get(stream)
        if checkpoint is None:
            return floor
        since, fetched_at = checkpoint
        return floor if fetched_at < now - WINDOW_SECONDS - MARGIN_SECONDS else since

    def advance(
        self, stream: str, since: int, newest: float | None, fetched_at: float, *, pages: int = 1
    ) -> bool:
        """Record a successful fetch that started at ``fetched_at`` with ``since``; True when ``since`` moved.

        ``since`` is part of the request URL, and a new URL costs a full request even when nothing
        changed, so it moves (to ``newest - overlap``) only when a response brought data (``newest`` set)
        and either needed more than one page or ``since`` fell behind the window: responses stay about
        one page long while an idle repo keeps asking the same URL and gets free 304s.
        """
        target = since
        floor = int(fetched_at - WINDOW_SECONDS - MARGIN_SECONDS)  # whole seconds, as `since_for` gives
        if newest is not None and (pages > 1 or since < floor):
            target = max(since, int(newest - OVERLAP_SECONDS))
        previous = self.streams.get(stream)
        self.streams[stream] = (target, fetched_at)
        return previous is None or previous[0] != target

    # --- window ------------------------------------------------------------------------------------

    def counts(self, now: float) -> tuple[dict[tuple[EventKind, str], int], dict[str, float]]:
        """Per (kind, user) event counts in ``[now - 24h, now)`` and each user's newest counted event."""
        lo = now - WINDOW_SECONDS
        counts: dict[tuple[EventKind, str], int] = {}
        last: dict[str, float] = {}
        for (kind, _), (ts, user) in self.events.items():
            if lo <= ts < now:
                key = (EventKind(kind), user)
                counts[key] = counts.get(key, 0) + 1
                if ts > last.get(user, -math.inf):
                    last[user] = ts
        return counts, last

    def samples(self, org: str, repo: str, now: float) -> tuple[Sample, ...]:
        """The repo's complete activity series at ``now`` (only non-zero counts), in a stable order."""
        counts, last = self.counts(now)
        out: list[Sample] = []
        for (kind, user), n in sorted(counts.items()):
            out.append(METRIC_OF[kind].sample(n, {"org": org, "repo": repo, "user": user}))
        for user in sorted(last):
            labels = {"org": org, "repo": repo, "user": user}
            out.append(metrics.ACTIVITY_LAST_EVENT.sample(last[user], labels))
        self._valid_until = self.next_change(now)
        return tuple(out)

    def unchanged_since_samples(self, now: float) -> bool:
        """True when no event was added since the last `samples` call and no event crossed a window edge."""
        return now < self._valid_until

    def next_change(self, now: float) -> float:
        """The earliest time after ``now`` at which the window counts change without new events."""
        lo = now - WINDOW_SECONDS
        nxt = math.inf
        for ts, _ in self.events.values():
            if ts >= now:
                nxt = min(nxt, ts)  # enters the window once now passes it
            elif ts >= lo:
                nxt = min(nxt, ts + WINDOW_SECONDS)  # leaves the window
        # An event exactly at ``now`` enters as soon as time moves at all.
        return nxt if nxt > now else math.nextafter(now, math.inf)

    # --- (de)serialisation -------------------------------------------------------------------------

    def to_record(self, rev: str) -> bytes:
        """The checkpoint record; users are interned once, events are ``[kind, id, ts, user_index]``."""
        users: dict[str, int] = {}
        events: list[tuple[int, str, float, int]] = []
        for (kind, event_id), (ts, user) in self.events.items():
            index = users.setdefault(user, len(users))
            events.append((kind, event_id, ts, index))
        wire = _Wire(
            v=FORMAT_VERSION,
            users=list(users),
            events=events,
            streams=dict(self.streams),
            prs={str(n): int(updated) for n, updated in self.pr_reviewed.items()},
        )
        return codec.encode(_Record(rev, wire))

    @staticmethod
    def revision(data: bytes) -> str | None:
        """The revision tag of a record, without decoding its events; None when it has none."""
        try:
            return codec.decode(data, _Revision).rev or None
        except codec.RecordError:
            return None

    @classmethod
    def from_record(cls, data: bytes) -> Ledger | None:
        """The ledger inside a checkpoint record; None for an empty one; `LedgerFormatError` when unreadable."""
        try:
            record = codec.decode(data, _Record)
            if record.ledger is None or record.ledger == "":
                return None
            wire = codec.decode(record.ledger, _Wire) if isinstance(record.ledger, str) else record.ledger
        except codec.RecordError as exc:
            msg = f"stored activity ledger is unreadable: {exc}"
            raise LedgerFormatError(msg) from exc
        if wire.v != FORMAT_VERSION:
            msg = f"stored activity ledger has format {wire.v}, this version reads {FORMAT_VERSION}"
            raise LedgerFormatError(msg)
        ledger = cls()
        kinds = {int(k) for k in EventKind}
        try:
            for kind, event_id, ts, index in wire.events:
                if kind in kinds:
                    ledger.events[kind, event_id] = (float(ts), wire.users[index])
            for name, (since, fetched_at) in wire.streams.items():
                ledger.streams[name] = (int(since), float(fetched_at))
            for number, updated in wire.prs.items():
                ledger.pr_reviewed[int(number)] = float(updated)
        except (IndexError, ValueError) as exc:
            msg = f"stored activity ledger is inconsistent: {exc}"
            raise LedgerFormatError(msg) from exc
        return ledger
