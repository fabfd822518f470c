"""Seeded Copilot seats (the user-management API): seat objects and each org's billing summary.

Pure data: no HTTP, no clock; times are fixed relative to a reference instant, so the lists stay the
same between requests (and their ETags with them) until a test changes a seat on purpose. Shapes follow
the fact sheet §8 (docs/metrics.md, "Copilot seats"): nullable `last_activity_at`/`last_activity_editor`,
`assigning_team`, `pending_cancellation_date`, assignees that are users, a team or null, the enterprise
listing with one entry per grant. It must not import exporter code.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from github_stats_exporter.simulator.copilot_data import CopilotDataset, UnknownScope

DAY = 86400.0
EDITORS = ("vscode", "JetBrains-IC", "JetBrains-PY", "VisualStudio", "Neovim", "Xcode")
_API = "https://api.github.com"
TEAM_SEAT_SLUG = "copilot-pilots"
"""The team that holds a seat itself (a Team assignee) in the first org."""
ENTERPRISE_TEAM = "ent:copilot-everyone"


def _digest(*parts: object) -> bytes:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).digest()


def stamp(t: float, *, offset_hours: int = 0) -> str:
    """An ISO 8601 date-time as GitHub writes it: ``Z``, or a numeric offset as in the docs' example."""
    if offset_hours == 0:
        return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    zone = timezone(timedelta(hours=offset_hours))
    return datetime.fromtimestamp(int(t), zone).isoformat()


def _user(login: str, user_id: int) -> dict[str, Any]:
    return {
        "login": login,
        "id": user_id,
        "node_id": f"MDQ6VXNlcj{user_id}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": f"{_API}/users/{login}",
        "html_url": f"https://github.com/{login}",
        "type": "User",
        "site_admin": False,
    }


def _team(org: str, slug: str, team_id: int) -> dict[str, Any]:
    return {
        "id": team_id,
        "node_id": f"MDQ6VGVhbT{team_id}",
        "url": f"{_API}/orgs/{org}/teams/{slug}",
        "html_url": f"https://github.com/orgs/{org}/teams/{slug}",
        "name": slug.replace("-", " ").title(),
        "slug": slug,
        "description": "Copilot seat holders",
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": f"{_API}/teams/{team_id}/members{{/member}}",
        "repositories_url": f"{_API}/teams/{team_id}/repos",
        "parent": None,
    }


def _organization(org: str, org_id: int) -> dict[str, Any]:
    return {
        "login": org,
        "id": org_id,
        "node_id": f"MDEyOk9yZ2FuaXphdGlvbj{org_id}",
        "url": f"{_API}/orgs/{org}",
        "description": None,
    }


@dataclass(frozen=True, slots=True)
class CycleSpan:
    """The current billing cycle: from the first of the reference month to the first of the next."""

    start: float
    next_start: date


def cycle_of(reference: float) -> CycleSpan:
    day = datetime.fromtimestamp(reference, UTC).date().replace(day=1)
    following = (day + timedelta(days=32)).replace(day=1)
    return CycleSpan(datetime.combine(day, datetime.min.time(), UTC).timestamp(), following)


class SeatRoster:
    """Copilot seats of every org of a Copilot dataset (and of its enterprise), built on first use.

    Seats belong to most org members; ages of the last activity spread over every bucket the exporter
    uses, with about one seat in ten never active. Tests change seats through `revoke` and `touch`.
    """

    def __init__(self, dataset: CopilotDataset, reference: float) -> None:
        self.dataset = dataset
        self.reference = reference
        self.cycle = cycle_of(reference)
        self._seats: dict[str, list[dict[str, Any]]] = {}
        self._enterprise_grants: list[dict[str, Any]] | None = None

    # -- seat lists -----------------------------------------------------------------------------

    def org_seats(self, org: str) -> list[dict[str, Any]]:
        """The seat objects ``GET /orgs/{org}/copilot/billing/seats`` lists, in its order."""
        canonical = self.dataset.canonical_scope_id("org", org)
        seats = self._seats.get(canonical)
        if seats is None:
            seats = self._seats[canonical] = self._build_org(canonical)
        return seats

    def enterprise_seats(self, slug: str) -> list[dict[str, Any]]:
        """The enterprise listing: one entry per granting org or enterprise team (a user may repeat)."""
        self.dataset.canonical_scope_id("enterprise", slug)
        out: list[dict[str, Any]] = []
        for org in sorted(self.dataset.orgs):
            for seat in self.org_seats(org):
                entry = copy.deepcopy(seat)
                entry["organization"] = _organization(org, int(self.dataset.organization_ids[org]))
                out.append(entry)
        if self._enterprise_grants is None:
            self._enterprise_grants = self._build_enterprise_grants()
        out.extend(copy.deepcopy(self._enterprise_grants))
        return out

    def enterprise_total(self, slug: str) -> int:
        """``total_seats`` of the enterprise listing: each user once, however many grants they have."""
        users: set[int] = set()
        others = 0
        for seat in self.enterprise_seats(slug):
            assignee = seat.get("assignee")
            if isinstance(assignee, dict) and assignee.get("type") == "User":
                users.add(int(assignee["id"]))
            else:
                others += 1
        return len(users) + others

    def billing(self, org: str) -> dict[str, Any]:
        """The ``GET /orgs/{org}/copilot/billing`` body, consistent with the org's seat list."""
        canonical = self.dataset.canonical_scope_id("org", org)
        seats = self.org_seats(canonical)
        start = self.cycle.start
        active = sum(1 for s in seats if s["last_activity_at"] and _parse(s["last_activity_at"]) >= start)
        breakdown = {
            "total": len(seats),
            "added_this_cycle": sum(1 for s in seats if _parse(s["created_at"]) >= start),
            "pending_invitation": _digest(self.dataset.seed, "invites", canonical)[0] % 4,
            "pending_cancellation": sum(1 for s in seats if s["pending_cancellation_date"]),
            "active_this_cycle": active,
            "inactive_this_cycle": len(seats) - active,
        }
        return {
            "seat_breakdown": breakdown,
            "public_code_suggestions": "block",
            "ide_chat": "enabled",
            "platform_chat": "enabled",
            "cli": "enabled",
            "seat_management_setting": "assign_selected",
            "plan_type": self._org_plan(canonical),
        }

    # -- changes made by tests ------------------------------------------------------------------

    def revoke(self, org: str, login: str) -> None:
        """Remove ``login``'s seat from the org (the list and its ETag change)."""
        seats = self.org_seats(org)
        seats[:] = [s for s in seats if (s.get("assignee") or {}).get("login") != login]

    def touch(self, org: str, login: str, when: float, editor: str | None) -> None:
        """Record new Copilot activity of ``login`` at ``when`` with ``editor`` (a full editor string)."""
        for seat in self.org_seats(org):
            if (seat.get("assignee") or {}).get("login") == login:
                seat["last_activity_at"] = stamp(when)
                seat["last_activity_editor"] = editor
                seat["last_authenticated_at"] = stamp(when)
                return
        msg = f"{login} has no seat in {org}"
        raise KeyError(msg)

    # -- generation -----------------------------------------------------------------------------

    def _org_plan(self, org: str) -> str:
        return "business" if sorted(self.dataset.orgs).index(org) % 2 == 0 else "enterprise"

    def _build_org(self, org: str) -> list[dict[str, Any]]:
        seed = self.dataset.seed
        plan = self._org_plan(org)
        seats: list[dict[str, Any]] = []
        team_id = int.from_bytes(_digest(seed, "team", org)[:3], "big")
        for login in sorted(self.dataset.orgs[org]):
            d = _digest(seed, "seat", org, login)
            if d[0] < 26:  # about one member in ten has no seat
                continue
            seat = self._seat(d, _user(login, self.dataset.user_ids[login]), plan)
            if d[6] % 3 == 0:
                seat["assigning_team"] = _team(org, "copilot-users", team_id)
            seats.append(seat)
        if sorted(self.dataset.orgs).index(org) == 0:
            # A team that holds a seat itself and a seat whose holder is gone (assignee null).
            team = _team(org, TEAM_SEAT_SLUG, team_id + 1)
            seats.append(self._seat(_digest(seed, "team-seat", org), team, plan))
            seats.append(self._seat(_digest(seed, "ghost-seat", org), None, plan))
        return seats

    def _build_enterprise_grants(self) -> list[dict[str, Any]]:
        """Seats granted through an enterprise team: about one user in five, most of them also org seat holders."""
        seed = self.dataset.seed
        team = {
            "id": 77,
            "name": "Copilot everyone",
            "slug": ENTERPRISE_TEAM,
            "url": f"{_API}/enterprises/{self.dataset.enterprise}/teams/{ENTERPRISE_TEAM}",
            "html_url": f"https://github.com/enterprises/{self.dataset.enterprise}/teams/{ENTERPRISE_TEAM}",
            "group_id": None,
            "group_name": None,
            "created_at": stamp(self.reference - 200 * DAY),
            "updated_at": stamp(self.reference - 20 * DAY),
        }
        grants = []
        for login in self.dataset.users:
            d = _digest(seed, "enterprise-grant", login)
            if d[0] % 5:
                continue
            seat = self._seat(d, _user(login, self.dataset.user_ids[login]), "enterprise")
            seat["assigning_team"] = dict(team)
            grants.append(seat)
        return grants

    def _seat(self, d: bytes, assignee: dict[str, Any] | None, plan: str) -> dict[str, Any]:
        ref = self.reference
        created = ref - (2 + d[1] % 200) * DAY - d[2] * 97
        activity: float | None = None
        if d[3] >= 26:  # about one seat in ten was never used (or not for 90 days: GitHub resets it)
            # Spread over the buckets: under a day, under a week, under 28 days, older (up to 89 days).
            bounds = ((0.0, 1.0), (1.0, 7.0), (7.0, 28.0), (28.0, 89.0))[d[4] % 4]
            fraction = int.from_bytes(d[8:12], "big") / 2**32
            activity = ref - (bounds[0] + (bounds[1] - bounds[0]) * fraction) * DAY
        editor: str | None = None
        if activity is not None and d[5] % 11:  # the editor is sometimes unknown even with activity
            name = EDITORS[d[5] % len(EDITORS)]
            editor = f"{name}/1.{80 + d[7] % 20}.{d[7] % 4}/copilot/1.{200 + d[9] % 90}.{d[10] % 900}"
            if d[11] % 13 == 0:
                editor = name  # no version suffix at all
        offset = -6 if d[12] % 7 == 0 else 0
        seat: dict[str, Any] = {
            "created_at": stamp(created, offset_hours=offset),
            "updated_at": stamp(created + d[13] * 3600.0),
            "pending_cancellation_date": (self.cycle.next_start.isoformat() if d[14] % 12 == 0 else None),
            "last_activity_at": stamp(activity, offset_hours=offset) if activity is not None else None,
            "last_activity_editor": editor,
            "last_authenticated_at": stamp(activity + 60.0) if activity is not None else None,
            "plan_type": "unknown" if d[15] % 23 == 0 else plan,
            "assignee": assignee,
            "assigning_team": None,
        }
        if d[15] % 9 == 0:
            # A field GitHub may add later: parsers must ignore it.
            seat["last_activity_surface"] = {"kind": "simulated-future-field"}
        return seat


def _parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


__all__ = ["CycleSpan", "SeatRoster", "UnknownScope", "cycle_of", "stamp"]
