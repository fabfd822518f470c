"""Ground truth for repository-level Copilot metrics: every series a correct exporter derives from ``repos-1-day``.

Follows docs/metrics.md ("Copilot repositories"): per repository, the additive ``pull_requests`` fields and the
Copilot suggestions per comment type summed over the days of the latest 28-day window (``28d``) and taken
from its newest day (``1d``); the medians and the ``pull_request_review_times`` stages only from the newest
day. 204 days add nothing. Computed from the simulator's rows with stdlib only; it must not import exporter
code, so a bug in the exporter cannot also appear here.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from github_stats_exporter.simulator.copilot_data import WINDOW_DAYS, Scope
from github_stats_exporter.simulator.copilot_repos import RepoActivity

PR_PREFIX = "gh_copilot_usage_pull_requests_"
REVIEW_FAMILY = "gh_copilot_repo_review_minutes"
REPO_FAMILIES: tuple[str, ...] = (REVIEW_FAMILY,)
"""The families only repository reports produce (the rest are gh_copilot_usage_pull_requests_*)."""
SUMMED = (
    "total_created",
    "total_reviewed",
    "total_merged",
    "total_suggestions",
    "total_applied_suggestions",
    "total_created_by_copilot",
    "total_reviewed_by_copilot",
    "total_merged_created_by_copilot",
    "total_merged_reviewed_by_copilot",
    "total_copilot_suggestions",
    "total_copilot_applied_suggestions",
)
MEDIANS = (
    "median_minutes_to_merge",
    "median_minutes_to_merge_copilot_authored",
    "median_minutes_to_merge_copilot_reviewed",
)
BY_COMMENT_TYPE = (
    ("total_copilot_suggestions", "copilot_suggestions_by_comment_type"),
    ("total_copilot_applied_suggestions", "copilot_applied_suggestions_by_comment_type"),
)
STAGES = ("ready_to_first_review", "first_to_final_review", "final_review_to_merge")
QUANTILES = (("0.5", "median"), ("0.9", "p90"))

TruthKey = tuple[str, tuple[tuple[str, str], ...]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _key(name: str, **labels: str) -> TruthKey:
    return name, tuple(sorted(labels.items()))


def repos_truth(repos: RepoActivity, scope: Scope, scope_id: str, end_day: date) -> dict[TruthKey, float]:
    """Every repository series of one scope; ``end_day`` is the latest 28-day report's last day."""
    canonical = repos.dataset.canonical_scope_id(scope, scope_id)
    series_scope = "repository" if scope == "org" else "enterprise_repository"
    out: dict[TruthKey, float] = {}

    def add(key: TruthKey, value: Any) -> None:
        number = _number(value)
        if number is not None:
            out[key] = out.get(key, 0.0) + number

    for offset in reversed(range(WINDOW_DAYS)):
        day = end_day - timedelta(days=offset)
        windows = ("28d", "1d") if offset == 0 else ("28d",)
        for row in repos.rows(scope, canonical, day) or ():
            repo = str(row["repo_name"]) if scope == "org" else f"{row['repo_owner_name']}/{row['repo_name']}"
            prs = row.get("pull_requests") or {}
            for window in windows:
                base = {
                    "org": canonical,
                    "repo": repo,
                    "user": "all",
                    "scope": series_scope,
                    "window": window,
                }
                for field in SUMMED:
                    add(_key(PR_PREFIX + field, **base), prs.get(field))
                for element in prs.get("copilot_suggestions_by_comment_type") or ():
                    for field, family in BY_COMMENT_TYPE:
                        add(
                            _key(PR_PREFIX + family, **base, comment_type=str(element["comment_type"])),
                            element.get(field),
                        )
            if offset != 0:
                continue
            base = {"org": canonical, "repo": repo, "user": "all", "scope": series_scope, "window": "1d"}
            for field in MEDIANS:
                add(_key(PR_PREFIX + field, **base), prs.get(field))
            for element in row.get("pull_request_review_times") or ():
                for stage in STAGES:
                    for quantile, prefix in QUANTILES:
                        labels = {
                            "org": canonical,
                            "repo": repo,
                            "scope": series_scope,
                            "stage": stage,
                            "quantile": quantile,
                            "authored_by": str(element["authored_by"]),
                            "reviewed_by": str(element["reviewed_by"]),
                        }
                        add(_key(REVIEW_FAMILY, **labels), element.get(f"{prefix}_minutes_{stage}"))
    return out
