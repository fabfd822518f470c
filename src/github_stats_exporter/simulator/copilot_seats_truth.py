"""Ground truth for Copilot seats: every gh_copilot_seat* series a correct exporter derives at a given time.

Computed from the simulator's own seat objects and billing bodies with stdlib only, following
docs/metrics.md ("Copilot seats"); it must not import exporter code, so a bug in the exporter's census
cannot also appear here and cancel out in a test.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Literal

from github_stats_exporter.simulator.copilot_data import Scope
from github_stats_exporter.simulator.copilot_seats import SeatRoster

UserMode = Literal["login", "id", "hashed", "none"]
TruthKey = tuple[str, tuple[tuple[str, str], ...]]

SEATS = "gh_copilot_seats"
BY_ACTIVITY = "gh_copilot_seats_by_last_activity"
BY_EDITOR = "gh_copilot_seats_by_editor"
BY_PLAN = "gh_copilot_seats_by_plan"
LAST_ACTIVITY = "gh_copilot_seat_last_activity_unixtime"
SEAT_FAMILIES = (SEATS, BY_ACTIVITY, BY_EDITOR, BY_PLAN, LAST_ACTIVITY)
BREAKDOWN_KINDS = (
    "total",
    "added_this_cycle",
    "pending_invitation",
    "pending_cancellation",
    "active_this_cycle",
    "inactive_this_cycle",
)
BUCKETS = ("1d", "7d", "28d", "older", "never")
HOUR = 3600.0


def activity_bucket(last_activity_at: str | None, now: float) -> str:
    """docs/metrics.md: age = now - last_activity_at; 1d < 24 h <= 7d < 7 d <= 28d < 28 d <= older; null → never."""
    if last_activity_at is None:
        return "never"
    age = now - datetime.fromisoformat(last_activity_at.replace("Z", "+00:00")).timestamp()
    if age < 24 * HOUR:
        return "1d"
    if age < 7 * 24 * HOUR:
        return "7d"
    if age < 28 * 24 * HOUR:
        return "28d"
    return "older"


def editor_name(editor: str | None) -> str:
    """The editor before the first ``/`` of ``last_activity_editor``; ``none`` when it is null or empty."""
    if not editor:
        return "none"
    return editor.split("/", 1)[0] or "none"


def _user_label(assignee: dict[str, Any], mode: UserMode, hash_key: bytes | None) -> str:
    if mode == "login":
        return str(assignee["login"])
    if mode == "id":
        return str(assignee["id"])
    if mode == "hashed":
        if not hash_key:
            msg = "user_mode 'hashed' needs a hash_key"
            raise ValueError(msg)
        return hmac.new(hash_key, str(assignee["login"]).encode(), hashlib.sha256).hexdigest()[:16]
    return "redacted"


def _time(text: str | None) -> float:
    if text is None:
        return float("-inf")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def counted_seats(seats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One seat per user (the entry with the newest activity, the first listed on a tie); others as listed."""
    kept: list[dict[str, Any]] = []
    by_user: dict[int, int] = {}
    for seat in seats:
        assignee = seat.get("assignee")
        if isinstance(assignee, dict) and assignee.get("type") == "User":
            uid = int(assignee["id"])
            at = by_user.get(uid)
            if at is None:
                by_user[uid] = len(kept)
                kept.append(seat)
            elif _time(seat.get("last_activity_at")) > _time(kept[at].get("last_activity_at")):
                kept[at] = seat
            continue
        kept.append(seat)
    return kept


def seats_truth(
    roster: SeatRoster,
    scope: Scope,
    scope_id: str,
    now: float,
    *,
    include_users: bool = False,
    user_mode: UserMode = "login",
    hash_key: bytes | None = None,
) -> dict[TruthKey, float]:
    """Every seat series of one org or the enterprise at ``now``: what the exporter's snapshot must hold."""
    if scope == "org":
        org = roster.dataset.canonical_scope_id("org", scope_id)
        seats = counted_seats(roster.org_seats(org))
        label_org = org
    else:
        seats = counted_seats(roster.enterprise_seats(scope_id))
        label_org = scope_id
    base = {"org": label_org, "scope": scope}
    out: dict[TruthKey, float] = {}

    def put(name: str, value: float, **labels: str) -> None:
        key = (name, tuple(sorted({**base, **labels}.items())))
        out[key] = out.get(key, 0.0) + value

    if scope == "org":
        breakdown = roster.billing(label_org)["seat_breakdown"]
        for kind in BREAKDOWN_KINDS:
            value = breakdown.get(kind)
            if isinstance(value, int) and not isinstance(value, bool):
                put(SEATS, float(value), kind=kind)
    else:
        # The enterprise has no billing summary; its listing's total_seats is the one breakdown field.
        put(SEATS, float(roster.enterprise_total(scope_id)), kind="total")
    for bucket in BUCKETS:
        put(BY_ACTIVITY, 0.0, since=bucket)
    users: dict[str, float] = {}
    for seat in seats:
        put(BY_ACTIVITY, 1.0, since=activity_bucket(seat.get("last_activity_at"), now))
        put(BY_EDITOR, 1.0, editor=editor_name(seat.get("last_activity_editor")))
        plan = seat.get("plan_type")
        if isinstance(plan, str) and plan:
            put(BY_PLAN, 1.0, plan_type=plan)
        assignee = seat.get("assignee")
        last = seat.get("last_activity_at")
        if (
            include_users
            and last is not None
            and isinstance(assignee, dict)
            and assignee.get("type") == "User"
        ):
            label = _user_label(assignee, user_mode, hash_key)
            users[label] = max(users.get(label, float("-inf")), _time(last))
    for label, value in users.items():
        put(LAST_ACTIVITY, value, user=label)
    return out
