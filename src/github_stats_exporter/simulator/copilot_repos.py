"""Seeded per-repository rows behind the ``repos-1-day`` reports (org and enterprise scope).

Each active Copilot user's pull-request activity of a day (the same `Activity` the users and aggregate
reports show) is attributed to one repository of the org that is busy that day (about one day in four a
repository is quiet). A row per repository with activity, as the fact sheet's section 6 describes:
identification, the ``pull_requests`` object and ``pull_request_review_times`` (human-authored PRs with a
human review, merged that day; ``[]`` when there is none). The enterprise report holds every org's
repositories. A day answers 204 when no repository had activity and, as GitHub sometimes does without
saying why, on about one day in nine. Rows carry a field nobody knows yet. Pure data: no HTTP, no clock,
stdlib only; it must not import exporter code.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from github_stats_exporter.simulator.copilot_data import (
    Activity,
    CopilotDataset,
    Scope,
    pull_requests_object,
)

QUIET_PER_FOUR = 1
"""Out of four days, how many a repository is quiet on average (no activity attributed to it)."""
NO_CONTENT_PER_NINE = 1
"""Out of nine days, how many answer 204 although there was activity."""
STAGES = ("ready_to_first_review", "first_to_final_review", "final_review_to_merge")
STAGE_RANGES = {
    "ready_to_first_review": 2000.0,
    "first_to_final_review": 3000.0,
    "final_review_to_merge": 1500.0,
}


@dataclass(frozen=True, slots=True)
class Repo:
    """What the report says about a repository."""

    name: str
    repo_id: int
    visibility: str


def _number(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def _p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


class RepoActivity:
    """Which repository each user's pull-request activity of a day went to, and the report rows."""

    def __init__(self, dataset: CopilotDataset, repos: Mapping[str, Sequence[Repo]]) -> None:
        self.dataset = dataset
        self.repos = {org: tuple(found) for org, found in repos.items()}

    def busy(self, org: str, day: date) -> tuple[Repo, ...]:
        """The org's repositories that can get activity on ``day``."""
        seed = self.dataset.seed
        return tuple(
            r
            for r in self.repos.get(org, ())
            if _number(seed, "repo-day", org, r.name, day) % 4 >= QUIET_PER_FOUR
        )

    def activities(self, org: str, day: date) -> dict[str, list[Activity]]:
        """repo name → the activities attributed to it on ``day`` (only repositories with some)."""
        busy = self.busy(org, day)
        out: dict[str, list[Activity]] = {}
        if not busy:
            return out
        for login in sorted(self.dataset.active_flags(day, self.dataset.members("org", org))):
            act = self.dataset.activity(login, day)
            if act is None:  # pragma: no cover (active_flags lists only active users)
                continue
            repo = busy[_number(self.dataset.seed, "repo-of", org, login, day) % len(busy)]
            out.setdefault(repo.name, []).append(act)
        return out

    def no_content(self, scope: Scope, scope_id: str, day: date) -> bool:
        """Whether GitHub answers 204 for ``day`` although there was activity."""
        return _number(self.dataset.seed, "repos-204", scope, scope_id, day) % 9 < NO_CONTENT_PER_NINE

    def rows(self, scope: Scope, scope_id: str, day: date) -> list[dict[str, Any]] | None:
        """The NDJSON records of the scope's ``repos-1-day`` report for ``day``; None means 204."""
        canonical = self.dataset.canonical_scope_id(scope, scope_id)
        if day < self.dataset.first_day or self.no_content(scope, canonical, day):
            return None
        orgs = sorted(self.dataset.orgs) if scope == "enterprise" else [canonical]
        out = [row for org in orgs for row in self._org_rows(org, day, with_org_id=scope == "org")]
        return out or None

    def _org_rows(self, org: str, day: date, *, with_org_id: bool) -> list[dict[str, Any]]:
        by_name = {r.name: r for r in self.repos.get(org, ())}
        out: list[dict[str, Any]] = []
        for name, acts in sorted(self.activities(org, day).items()):
            repo = by_name[name]
            row: dict[str, Any] = {"day": day.isoformat(), "enterprise_id": self.dataset.enterprise_id}
            if with_org_id:
                row["organization_id"] = self.dataset.organization_ids[org]
            row.update(
                {
                    "repo_id": repo.repo_id,
                    "repo_owner_name": org,
                    "repo_name": repo.name,
                    "repo_visibility": repo.visibility,
                    "pull_requests": pull_requests_object(acts, absent=day.toordinal() % 2 == 0),
                    "pull_request_review_times": self._review_times(org, repo.name, day, acts),
                    # A field GitHub may add later: readers must ignore it.
                    "copilot_autofix": {"alerts_fixed": _number(org, repo.name, day) % 3},
                }
            )
            out.append(row)
        return out

    def _review_times(self, org: str, name: str, day: date, acts: list[Activity]) -> list[dict[str, Any]]:
        """Stage durations of the day's merged PRs opened by a person and reviewed by another one."""
        seed = self.dataset.seed
        durations: dict[str, list[float]] = {stage: [] for stage in STAGES}
        timed = 0
        merged = [m for a in acts for m in a.merged]
        for index, pr in enumerate(merged):
            pick = _number(seed, "review", org, name, day, index)
            if pr.by_copilot or pick % 5 == 0:  # Copilot-authored or self-reviewed: not timed
                continue
            timed += 1
            for stage in STAGES:
                draw = _number(seed, "stage", org, name, day, index, stage)
                minutes = round(1 + (draw % 10_000) / 10_000 * STAGE_RANGES[stage], 1)
                if stage == "first_to_final_review" and pick % 3 == 0:
                    minutes = 0.0  # only one review
                durations[stage].append(minutes)
        if not timed:
            return []
        element: dict[str, Any] = {"authored_by": "human", "reviewed_by": "human", "total_merged": timed}
        for stage, values in durations.items():
            element[f"median_minutes_{stage}"] = round(float(statistics.median(values)), 1)
            element[f"p90_minutes_{stage}"] = _p90(values)
        return [element]
