"""Seeded team membership behind the ``user-teams-1-day`` reports (org teams and enterprise teams).

One row per (user, team) per day, as the fact sheet's section 5 describes. Membership moves: a user's
main team is drawn per ten-day epoch, about three users in ten also sit in a second team, and every
scope has a ``tiny`` team of three members. Teams with fewer than five members on a day are left out
of that day's report, as GitHub leaves out teams under five seated Copilot users (every org member
counts as seated here). Pure data: no HTTP, no clock, stdlib only; it must not import exporter code.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from github_stats_exporter.simulator.copilot_data import CopilotDataset, Scope

MIN_TEAM_SIZE = 5
"""GitHub leaves teams with fewer seated Copilot users than this out of a day's report."""
TINY_TEAM = "tiny"
TINY_MEMBERS = 3
MAIN_TEAMS = ("platform", "web", "data", "mobile", "infra", "security", "ml", "design")
ENTERPRISE_TEAMS = ("ent-engineering", "ent-product", "ent-research", "ent-operations")
EPOCH_DAYS = 10
MEMBERS_PER_TEAM = 6
SECOND_TEAM_PER_TEN = 3


def _number(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


class TeamDirectory:
    """Who is in which team of an org (or of the enterprise) on a given day."""

    def __init__(self, dataset: CopilotDataset) -> None:
        self.dataset = dataset

    def teams(self, scope: Scope, scope_id: str) -> tuple[str, ...]:
        """Slugs of the scope's teams (the tiny team last)."""
        members = self.dataset.members(scope, scope_id)
        names = ENTERPRISE_TEAMS if scope == "enterprise" else MAIN_TEAMS
        count = max(1, min(len(names), len(members) // MEMBERS_PER_TEAM))
        return (*names[:count], TINY_TEAM)

    def team_id(self, scope: Scope, scope_id: str, slug: str) -> int:
        return _number(self.dataset.seed, "team", scope, scope_id.lower(), slug) % 9_000_000 + 1_000

    def membership(self, scope: Scope, scope_id: str, day: date) -> dict[str, tuple[str, ...]]:
        """slug → member logins on ``day``, every team (also those the report leaves out)."""
        canonical = self.dataset.canonical_scope_id(scope, scope_id)
        logins = sorted(self.dataset.members(scope, canonical))
        teams = self.teams(scope, canonical)
        main = teams[:-1]
        out: dict[str, list[str]] = {slug: [] for slug in teams}
        out[TINY_TEAM] = logins[:TINY_MEMBERS]
        seed = self.dataset.seed
        for login in logins:
            shift = _number(seed, "epoch-shift", login) % EPOCH_DAYS
            epoch = (day.toordinal() + shift) // EPOCH_DAYS
            first = _number(seed, "team-of", scope, canonical, login, epoch) % len(main)
            out[main[first]].append(login)
            pick = _number(seed, "second-team", scope, canonical, login, epoch)
            if len(main) > 1 and pick % 10 < SECOND_TEAM_PER_TEN:
                second = (first + 1 + (pick // 10) % (len(main) - 1)) % len(main)
                out[main[second]].append(login)
        return {slug: tuple(members) for slug, members in out.items()}

    def rows(self, scope: Scope, scope_id: str, day: date) -> list[dict[str, Any]]:
        """The NDJSON records of the scope's ``user-teams-1-day`` report for ``day``."""
        canonical = self.dataset.canonical_scope_id(scope, scope_id)
        if day < self.dataset.first_day:
            return []
        entity: dict[str, Any] = (
            {"enterprise_id": self.dataset.enterprise_id}
            if scope == "enterprise"
            else {"organization_id": self.dataset.organization_ids[canonical]}
        )
        out: list[dict[str, Any]] = []
        for slug, members in sorted(self.membership(scope, canonical, day).items()):
            if len(members) < MIN_TEAM_SIZE:
                continue
            team_id = self.team_id(scope, canonical, slug)
            for login in members:
                row: dict[str, Any] = {
                    "user_id": self.dataset.user_ids[login],
                    "user_login": login,
                    "day": day.isoformat(),
                    **entity,
                    "team_id": team_id,
                    "slug": slug,
                    # A field GitHub may add later: readers must ignore it.
                    "team_parent_slug": None,
                }
                out.append(row)
        return out
