"""Ground truth for Copilot reports: the series a correct exporter derives from one simulated report.

Computed from the simulator's own rows with stdlib only; it must not import exporter code, so a bug in
the exporter's mapping can never also appear here and cancel out in a test.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Literal

from github_stats_exporter.simulator.copilot_data import (
    COUNTERS,
    CopilotDataset,
    Report,
    Scope,
    Window,
)

UserMode = Literal["login", "id", "none"]
Dimension = Literal["ide", "feature", "language", "model"]
TruthKey = tuple[str, tuple[tuple[str, str], ...]]
"""(metric name, label pairs sorted by label name)."""

PREFIX = "gh_copilot_usage_"
PR_FIELDS = ("total_created", "total_reviewed", "total_created_by_copilot", "total_reviewed_by_copilot")
ACTIVE_USER_GAUGES = (
    "daily_active_users",
    "weekly_active_users",
    "monthly_active_users",
    "monthly_active_chat_users",
    "monthly_active_agent_users",
)
REDACTED_USER = "redacted"

# Which totals_by_* array feeds each breakdown label, and the dimension summed away (features).
_DIMENSION_ARRAYS: dict[str, str] = {
    "ide": "totals_by_ide",
    "feature": "totals_by_feature",
    "language": "totals_by_language_feature",
    "model": "totals_by_model_feature",
}


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _user_label(row: dict[str, Any], user_mode: UserMode) -> str:
    if user_mode == "login":
        return str(row["user_login"])
    if user_mode == "id":
        return str(row["user_id"])
    return REDACTED_USER


def _records(
    dataset: CopilotDataset, scope: Scope, scope_id: str, report: Report, window: Window, day: date
) -> list[dict[str, Any]]:
    """Day records of the report: user rows, the 1-day aggregate, or the 28-day wrapper's day_totals."""
    rows = dataset.report_rows(scope, scope_id, report, window, day)
    if report == "aggregate" and window == "28d":
        return [entry for wrapper in rows for entry in wrapper["day_totals"]]
    return rows


def _base_labels(scope: Scope, scope_id: str, report: Report, window: Window, user: str) -> dict[str, str]:
    return {
        "org": scope_id,
        "repo": "*",
        "user": user,
        "scope": ("enterprise_users" if scope == "enterprise" else "users") if report == "users" else scope,
        "window": window,
    }


def _add(out: dict[TruthKey, float], key: TruthKey, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    out[key] = out.get(key, 0.0) + float(value)


def copilot_truth(
    dataset: CopilotDataset,
    scope: Scope,
    scope_id: str,
    report: Report,
    window: Window,
    day: date,
    *,
    include_pr: bool = True,
    user_mode: UserMode = "login",
) -> dict[TruthKey, float]:
    """Series without breakdown or day labels: counters summed over the window, gauges from its newest day."""
    scope_id = dataset.canonical_scope_id(scope, scope_id)
    records = _records(dataset, scope, scope_id, report, window, day)
    out: dict[TruthKey, float] = {}
    for record in records:
        user = _user_label(record, user_mode) if report == "users" else "all"
        labels = _labels(**_base_labels(scope, scope_id, report, window, user))
        for counter in COUNTERS:
            _add(out, (PREFIX + counter, labels), record.get(counter))
        if report == "aggregate" and include_pr:
            prs = record.get("pull_requests") or {}
            for field in PR_FIELDS:
                _add(out, (f"{PREFIX}pull_requests_{field}", labels), prs.get(field))
    if report == "aggregate" and records:
        # Active-user counts are distinct counts: summing them over days would be meaningless.
        newest = max(records, key=lambda r: str(r["day"]))
        labels = _labels(**_base_labels(scope, scope_id, report, window, "all"))
        for gauge in ACTIVE_USER_GAUGES:
            value = newest.get(gauge)
            if value is not None:
                out[(PREFIX + gauge, labels)] = float(value)
    return out


def copilot_breakdown_truth(
    dataset: CopilotDataset,
    scope: Scope,
    scope_id: str,
    report: Report,
    window: Window,
    day: date,
    *,
    dimension: Dimension,
    user_mode: UserMode = "login",
) -> dict[TruthKey, float]:
    """The counters per breakdown value (label named after ``dimension``), summed over the window.

    ``language`` and ``model`` come from the language-by-feature and model-by-feature arrays summed over
    features, so language series have no user_initiated_interaction_count (the array lacks it).
    """
    scope_id = dataset.canonical_scope_id(scope, scope_id)
    array = _DIMENSION_ARRAYS[dimension]
    out: dict[TruthKey, float] = {}
    for record in _records(dataset, scope, scope_id, report, window, day):
        user = _user_label(record, user_mode) if report == "users" else "all"
        base = _base_labels(scope, scope_id, report, window, user)
        for element in _elements(record, array):
            labels = _labels(**base, **{dimension: str(element[dimension])})
            for counter in COUNTERS:
                _add(out, (PREFIX + counter, labels), element.get(counter))
    return out


def _elements(record: dict[str, Any], array: str) -> Iterable[dict[str, Any]]:
    elements = record.get(array) or []
    return [e for e in elements if isinstance(e, dict)]
