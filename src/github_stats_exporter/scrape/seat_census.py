"""Copilot seat objects and billing summaries → the gh_copilot_seat* samples of one org or the enterprise.

Pure and synchronous: pages go in (``add_page``), samples come out (``samples``). It decides the
activity buckets, the editor and plan counts, the per-user series and how the enterprise listing's
repeated users are counted (docs/metrics.md, "Copilot seats"). It does no I/O and never sees a client.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from github_stats_exporter import metrics
from github_stats_exporter.errors import ExporterError
from github_stats_exporter.model import Sample
from github_stats_exporter.scrape.copilot_map import LabelPolicy

SeatScope = Literal["org", "enterprise"]

BREAKDOWN_KINDS = (
    "total",
    "added_this_cycle",
    "pending_invitation",
    "pending_cancellation",
    "active_this_cycle",
    "inactive_this_cycle",
)
"""The fields of ``seat_breakdown``, each the `kind` label of one gh_copilot_seats series."""
BUCKETS = ("1d", "7d", "28d", "older", "never")
"""The `since` labels: exclusive buckets by the age of ``last_activity_at`` (``never`` when it is null)."""
DAY = 86400.0
BUCKET_LIMITS = (("1d", DAY), ("7d", 7 * DAY), ("28d", 28 * DAY))
NO_EDITOR = "none"
DROP_MALFORMED = "malformed"
DROP_DUPLICATE = "duplicate"


class MalformedSeatList(ExporterError):
    """A seat-list page is not an object with a ``seats`` array (transient: a retry may get a whole body)."""

    transient = True


@dataclass(frozen=True, slots=True)
class Seat:
    """What the census reads of one seat object."""

    user_id: int | None
    """Set for User assignees only (teams, organizations and vanished holders have none)."""
    login: str | None
    last_activity: float | None
    editor: str | None
    plan_type: str | None


def activity_bucket(last_activity: float | None, now: float) -> str:
    """The `since` label: age = now - last_activity; ``1d`` < 24 h ≤ ``7d`` < 7 d ≤ ``28d`` < 28 d ≤ ``older``.

    A time in the future (clock skew) is younger than a day; None (never used, or reset by GitHub after
    90 idle days) is ``never``.
    """
    if last_activity is None:
        return "never"
    age = now - last_activity
    for bucket, limit in BUCKET_LIMITS:
        if age < limit:
            return bucket
    return "older"


def editor_label(editor: str | None) -> str:
    """The editor name before the first ``/`` of ``last_activity_editor`` (``vscode/1.77.3/…`` → ``vscode``)."""
    if not editor:
        return NO_EDITOR
    return editor.split("/", 1)[0].strip() or NO_EDITOR


def _timestamp(value: object) -> float | None:
    """An ISO 8601 date-time as Unix time; None for null; ValueError when it is not a date-time."""
    if value is None:
        return None
    if not isinstance(value, str):
        msg = f"not a date-time: {value!r}"
        raise ValueError(msg)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _optional_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    msg = f"not a string: {value!r}"
    raise ValueError(msg)


def parse_seat(obj: object) -> Seat | None:
    """One seat object, or None when it is malformed (not an object, no ``created_at``, mistyped fields)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("created_at"), str):
        return None
    assignee = obj.get("assignee")
    if assignee is not None and not isinstance(assignee, dict):
        return None
    try:
        last_activity = _timestamp(obj.get("last_activity_at"))
        editor = _optional_text(obj.get("last_activity_editor"))
        plan_type = _optional_text(obj.get("plan_type"))
    except ValueError:
        return None
    user_id: int | None = None
    login: str | None = None
    if assignee is not None and assignee.get("type", "User") == "User":
        raw_id, raw_login = assignee.get("id"), assignee.get("login")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool) and isinstance(raw_login, str):
            user_id, login = raw_id, raw_login
    return Seat(user_id, login, last_activity, editor, plan_type)


class SeatCensus:
    """Counts the seats of one scope; ``users`` (a label policy) adds the per-user series.

    A user listed more than once (the enterprise listing has one entry per granting org or team) is
    counted once, with the entry of the newest activity; the others count as ``duplicate`` drops.
    """

    def __init__(self, org: str, scope: SeatScope, now: float, users: LabelPolicy | None = None) -> None:
        self._base = {"org": org, "scope": scope}
        self._now = now
        self._users = users
        self._seats: list[Seat] = []
        self._by_user: dict[int, int] = {}
        self.total_seats: int | None = None
        self.dropped: Counter[str] = Counter()
        self.breakdown: dict[str, int] = {}

    def add_page(self, body: Any) -> None:
        """One page of ``…/copilot/billing/seats``; raises `MalformedSeatList` when it is not a seat page."""
        if not isinstance(body, dict) or not isinstance(body.get("seats"), list):
            msg = "seat-list page is not an object with a 'seats' array"
            raise MalformedSeatList(msg)
        total = body.get("total_seats")
        if self.total_seats is None and isinstance(total, int) and not isinstance(total, bool):
            self.total_seats = total
        for obj in body["seats"]:
            seat = parse_seat(obj)
            if seat is None:
                self.dropped[DROP_MALFORMED] += 1
            else:
                self._add(seat)

    def add_billing(self, body: Any) -> None:
        """The billing summary's ``seat_breakdown``; absent, null or mistyped fields give no series."""
        breakdown = body.get("seat_breakdown") if isinstance(body, dict) else None
        if not isinstance(breakdown, dict):
            return
        for kind in BREAKDOWN_KINDS:
            value = breakdown.get(kind)
            if isinstance(value, int) and not isinstance(value, bool):
                self.breakdown[kind] = value

    def use_total_seats(self) -> None:
        """Without a billing summary (the enterprise), the listing's ``total_seats`` is ``kind="total"``."""
        if self.total_seats is not None:
            self.breakdown = {"total": self.total_seats}

    def _add(self, seat: Seat) -> None:
        if seat.user_id is None:
            self._seats.append(seat)
            return
        index = self._by_user.get(seat.user_id)
        if index is None:
            self._by_user[seat.user_id] = len(self._seats)
            self._seats.append(seat)
            return
        self.dropped[DROP_DUPLICATE] += 1
        kept = self._seats[index]
        if (seat.last_activity or float("-inf")) > (kept.last_activity or float("-inf")):
            self._seats[index] = seat

    @property
    def seats(self) -> int:
        """Seats counted (after merging a user's repeated entries)."""
        return len(self._seats)

    def samples(self) -> list[Sample]:
        """Every series of the scope, in a stable order (equal inputs give equal lists)."""
        base = self._base
        out = [
            metrics.COPILOT_SEATS.sample(self.breakdown[kind], {**base, "kind": kind})
            for kind in BREAKDOWN_KINDS
            if kind in self.breakdown
        ]
        buckets = Counter(activity_bucket(s.last_activity, self._now) for s in self._seats)
        out += [
            metrics.COPILOT_SEATS_BY_LAST_ACTIVITY.sample(buckets[b], {**base, "since": b}) for b in BUCKETS
        ]
        editors = Counter(editor_label(s.editor) for s in self._seats)
        out += [
            metrics.COPILOT_SEATS_BY_EDITOR.sample(n, {**base, "editor": e})
            for e, n in sorted(editors.items())
        ]
        plans = Counter(s.plan_type for s in self._seats if s.plan_type)
        out += [
            metrics.COPILOT_SEATS_BY_PLAN.sample(n, {**base, "plan_type": p})
            for p, n in sorted(plans.items())
        ]
        if self._users is not None:
            latest: dict[str, float] = {}
            for s in self._seats:
                if s.user_id is None or s.last_activity is None:
                    continue
                label = self._users.user(s.login, s.user_id)
                # Under user_label_mode "none" every user shares one label: it shows the newest activity.
                latest[label] = max(latest.get(label, float("-inf")), s.last_activity)
            out += [
                metrics.COPILOT_SEAT_LAST_ACTIVITY.sample(t, {**base, "user": u})
                for u, t in sorted(latest.items())
            ]
        return out
