"""Ground truth for team-level Copilot metrics: every gh_copilot_team_* series a correct exporter derives.

Follows the fact sheet's join rules (docs/metrics.md, "Copilot teams"): each day's users-1-day rows are
inner-joined with the same day's user-teams-1-day rows on (user_id, day, entity id), then counters are
summed per team and users counted distinct per team, over the 28 days of the latest 28-day report and
over its newest day. Computed from the simulator's rows with stdlib only; it must not import exporter
code, so a bug in the exporter's join cannot also appear here.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from github_stats_exporter.simulator.copilot_data import COUNTERS, WINDOW_DAYS, CopilotDataset, Scope
from github_stats_exporter.simulator.copilot_teams import TeamDirectory

PREFIX = "gh_copilot_team_"
SUMMED = (*COUNTERS, "ai_credits_used")
"""Per-user values summed per team: the seven activity counters and the AI credits."""
TEAM_FAMILIES: tuple[str, ...] = (*(PREFIX + name for name in SUMMED), PREFIX + "active_users")
"""Every family `teams_truth` can produce."""

TruthKey = tuple[str, tuple[tuple[str, str], ...]]


def _entity(row: dict[str, Any], scope: Scope) -> object:
    return row.get("enterprise_id") if scope == "enterprise" else row.get("organization_id")


def joined_rows(
    dataset: CopilotDataset, teams: TeamDirectory, scope: Scope, scope_id: str, day: date
) -> list[tuple[str, dict[str, Any]]]:
    """(team slug, user row) for every membership row of ``day`` that has a users-1-day row of that day."""
    users = {
        (row["user_id"], row["day"], _entity(row, scope)): row
        for row in dataset.report_rows(scope, scope_id, "users", "1d", day)
    }
    out: list[tuple[str, dict[str, Any]]] = []
    for member in teams.rows(scope, scope_id, day):
        row = users.get((member["user_id"], member["day"], _entity(member, scope)))
        if row is not None:
            out.append((str(member["slug"]), row))
    return out


def team_day_truth(dataset: CopilotDataset, scope: Scope, scope_id: str, day: date) -> dict[TruthKey, float]:
    """The ``window="1d"`` team series of one day alone (what a history of that day must hold)."""
    canonical = dataset.canonical_scope_id(scope, scope_id)
    out: dict[TruthKey, float] = {}
    users: dict[str, set[object]] = {}
    for slug, row in joined_rows(dataset, TeamDirectory(dataset), scope, canonical, day):
        labels = tuple(sorted({"org": canonical, "team": slug, "scope": scope, "window": "1d"}.items()))
        users.setdefault(slug, set()).add(row["user_id"])
        for name in SUMMED:
            value = row.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                key = (PREFIX + name, labels)
                out[key] = out.get(key, 0.0) + float(value)
    for slug, ids in users.items():
        labels = tuple(sorted({"org": canonical, "team": slug, "scope": scope, "window": "1d"}.items()))
        out[(PREFIX + "active_users", labels)] = float(len(ids))
    return out


def teams_truth(dataset: CopilotDataset, scope: Scope, scope_id: str, end_day: date) -> dict[TruthKey, float]:
    """Both windows of one scope's team series; ``end_day`` is the latest 28-day report's last day."""
    canonical = dataset.canonical_scope_id(scope, scope_id)
    teams = TeamDirectory(dataset)
    out: dict[TruthKey, float] = {}
    users: dict[tuple[str, str], set[object]] = {}
    # Oldest day first, rows in file order: float sums (AI credits) then match a streaming sum exactly.
    for offset in reversed(range(WINDOW_DAYS)):
        day = end_day - timedelta(days=offset)
        windows = ("28d", "1d") if offset == 0 else ("28d",)
        for slug, row in joined_rows(dataset, teams, scope, canonical, day):
            for window in windows:
                labels = tuple(
                    sorted({"org": canonical, "team": slug, "scope": scope, "window": window}.items())
                )
                users.setdefault((slug, window), set()).add(row["user_id"])
                for name in SUMMED:
                    value = row.get(name)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        key = (PREFIX + name, labels)
                        out[key] = out.get(key, 0.0) + float(value)
    for (slug, window), ids in users.items():
        labels = tuple(sorted({"org": canonical, "team": slug, "scope": scope, "window": window}.items()))
        out[(PREFIX + "active_users", labels)] = float(len(ids))
    return out
