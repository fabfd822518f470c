"""Ground truth for Copilot reports: every gh_copilot_usage_* series a correct exporter derives from a report.

Computed from the simulator's own rows with stdlib only, following docs/metrics.md ("Copilot usage");
it must not import exporter code, so a bug in the exporter's mapping can never also appear here and
cancel out in a test. It covers every family the exporter emits for the four report types, both
windows, the breakdowns (with the chat_mode view of the feature breakdown), the user label modes and
the day label.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Iterable
from datetime import date
from typing import Any, Literal

from github_stats_exporter.simulator.copilot_data import (
    COUNTERS,
    CopilotDataset,
    Report,
    Scope,
    Window,
)
from github_stats_exporter.simulator.copilot_repos_truth import REPO_FAMILIES
from github_stats_exporter.simulator.copilot_seats_truth import SEAT_FAMILIES
from github_stats_exporter.simulator.copilot_teams_truth import TEAM_FAMILIES

UserMode = Literal["login", "id", "hashed", "none"]
Dimension = Literal["ide", "feature", "language", "model"]
BreakdownLabel = Literal["ide", "feature", "language", "model", "chat_mode"]
TruthKey = tuple[str, tuple[tuple[str, str], ...]]
"""(metric name, label pairs sorted by label name)."""

PREFIX = "gh_copilot_usage_"
DIMENSIONS: tuple[Dimension, ...] = ("ide", "feature", "language", "model")
CLI_FIELDS = ("session_count", "request_count", "prompt_count")
"""Additive fields of ``totals_by_cli``, exported as gh_copilot_usage_cli_<field> (users and aggregates)."""
PR_FIELDS = (
    "total_created",
    "total_reviewed",
    "total_created_by_copilot",
    "total_reviewed_by_copilot",
    "total_merged",
    "total_merged_created_by_copilot",
)
"""Additive fields of an aggregate day's ``pull_requests``, exported as gh_copilot_usage_pull_requests_<field>."""
ACTIVE_USER_GAUGES = (
    "daily_active_users",
    "weekly_active_users",
    "monthly_active_users",
    "monthly_active_chat_users",
    "monthly_active_agent_users",
    "daily_active_cli_users",
)
"""Distinct-user counts of aggregate days: the newest day's value, never summed."""
DAY_GAUGES_2026 = (
    *(f"{p}_active_copilot_cloud_agent_users" for p in ("daily", "weekly", "monthly")),
    *(f"{p}_active_copilot_code_review_users" for p in ("daily", "weekly", "monthly")),
    *(f"{p}_passive_copilot_code_review_users" for p in ("daily", "weekly", "monthly")),
    "daily_active_copilot_app_users",
    "daily_active_vscode_agent_users",
    *(f"distinct_{n}_use_count" for n in ("skill", "slash_cmd", "plugin", "custom_agent", "mcp")),
)
"""Scalars of aggregate days added in 2026, exported like the active-user counts (newest day)."""
TOKEN_FIELDS = ("output_tokens_sum", "prompt_tokens_sum")
"""Additive fields of ``token_usage`` (CLI and app): gh_copilot_usage_{cli,copilot_app}_<field>."""
VSCODE_AGENT_FIELDS = ("session_count", "total_user_messages")
PR_FIELDS_2026 = (
    "total_suggestions",
    "total_applied_suggestions",
    "total_copilot_suggestions",
    "total_copilot_applied_suggestions",
    "total_merged_reviewed_by_copilot",
)
PR_MEDIANS = (
    "median_minutes_to_merge",
    "median_minutes_to_merge_copilot_authored",
    "median_minutes_to_merge_copilot_reviewed",
)
"""Exported only in the window="1d" view, from the newest day (a median cannot be summed)."""
PHASE_AVERAGES = (
    "avg_user_initiated_interactions",
    "avg_code_generation_activities",
    "avg_code_acceptance_activities",
    "avg_loc_added",
    "avg_loc_deleted",
    "avg_pull_requests_reviewed",
    "avg_pull_requests_created",
    "avg_pull_requests_merged",
    "avg_pull_requests_median_minutes_to_merge",
)
ZERO_WHEN_ABSENT = frozenset({"daily_active_cli_users"})
"""Gauges GitHub omits on days without that activity; the exporter then reports 0."""
REDACTED_USER = "redacted"
HASH_CHARS = 16

COPILOT_FAMILIES: tuple[str, ...] = (
    *(PREFIX + counter for counter in COUNTERS),
    *(f"{PREFIX}cli_{field}" for field in CLI_FIELDS),
    *(f"{PREFIX}pull_requests_{field}" for field in PR_FIELDS),
    *(PREFIX + gauge for gauge in ACTIVE_USER_GAUGES),
    *(PREFIX + gauge for gauge in DAY_GAUGES_2026),
    *(f"{PREFIX}cli_{field}" for field in TOKEN_FIELDS),
    *(f"{PREFIX}copilot_app_{field}" for field in (*CLI_FIELDS, *TOKEN_FIELDS)),
    *(f"{PREFIX}vscode_agent_{field}" for field in VSCODE_AGENT_FIELDS),
    f"{PREFIX}ai_credits_used",
    *(f"{PREFIX}pull_requests_{field}" for field in (*PR_FIELDS_2026, *PR_MEDIANS)),
    f"{PREFIX}pull_requests_copilot_suggestions_by_comment_type",
    f"{PREFIX}pull_requests_copilot_applied_suggestions_by_comment_type",
    f"{PREFIX}third_party_agent_user_initiated_interaction_count",
    f"{PREFIX}third_party_agent_session_count",
    f"{PREFIX}ai_adoption_phase_engaged_users",
    f"{PREFIX}ai_adoption_phase_total_pull_requests_merged",
    *(f"{PREFIX}ai_adoption_phase_{field}" for field in PHASE_AVERAGES),
    *SEAT_FAMILIES,
    *TEAM_FAMILIES,
    *REPO_FAMILIES,
)
"""Every family this truth (with `copilot_seats_truth.seats_truth` for the seat families and
`copilot_teams_truth.teams_truth` for the team families, `copilot_repos_truth.repos_truth` for the
repository review stages) can produce."""
NEWEST_DAY_FAMILIES: frozenset[str] = frozenset(
    (
        *(PREFIX + gauge for gauge in (*ACTIVE_USER_GAUGES, *DAY_GAUGES_2026)),
        *(f"{PREFIX}pull_requests_{field}" for field in PR_MEDIANS),
        f"{PREFIX}ai_adoption_phase_engaged_users",
        *(f"{PREFIX}ai_adoption_phase_{field}" for field in PHASE_AVERAGES),
    )
)
"""Families taken from the newest day of a window; every other family is summed over its days."""

# Which totals_by_* array feeds each breakdown label (language and model are summed over features).
_DIMENSION_ARRAYS: dict[str, str] = {
    "ide": "totals_by_ide",
    "feature": "totals_by_feature",
    "language": "totals_by_language_feature",
    "model": "totals_by_model_feature",
    "chat_mode": "totals_by_feature",
}
_CHAT_PANEL, _MODE = "chat_panel_", "_mode"


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _user_label(row: dict[str, Any], user_mode: UserMode, hash_key: bytes | None) -> str:
    if user_mode == "login":
        return str(row["user_login"])
    if user_mode == "id":
        return str(row["user_id"])
    if user_mode == "hashed":
        if not hash_key:
            msg = "user_mode 'hashed' needs a hash_key"
            raise ValueError(msg)
        # docs/metrics.md: HMAC-SHA-256 of the login, 16 hex characters.
        return hmac.new(hash_key, str(row["user_login"]).encode(), hashlib.sha256).hexdigest()[:HASH_CHARS]
    return REDACTED_USER


def _records(
    dataset: CopilotDataset, scope: Scope, scope_id: str, report: Report, window: Window, day: date
) -> list[dict[str, Any]]:
    """Day records of the report: user rows, the 1-day aggregate, or the 28-day wrapper's day_totals."""
    rows = dataset.report_rows(scope, scope_id, report, window, day)
    if report == "aggregate" and window == "28d":
        return [entry for wrapper in rows for entry in wrapper["day_totals"]]
    return rows


def _base_labels(
    scope: Scope, scope_id: str, report: Report, window: Window, user: str, day: str | None
) -> dict[str, str]:
    labels = {
        "org": scope_id,
        "repo": "*",
        "user": user,
        "scope": ("enterprise_users" if scope == "enterprise" else "users") if report == "users" else scope,
        "window": window,
    }
    if day is not None:
        labels["day"] = day
    return labels


def _add(out: dict[TruthKey, float], key: TruthKey, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    out[key] = out.get(key, 0.0) + float(value)


def _put(out: dict[TruthKey, float], key: TruthKey, value: Any) -> None:
    """A newest-day value (not summed); null, absent and non-numbers give no series."""
    if not isinstance(value, bool) and isinstance(value, int | float):
        out[key] = float(value)


def _object(record: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested object of a record; ``{}`` when it is null, absent or not an object."""
    value = record.get(name)
    return value if isinstance(value, dict) else {}


def _chat_mode(feature: str) -> str | None:
    """``chat_panel_<mode>_mode`` → ``<mode>`` (the Go exporter's chat_mode label); None for other features."""
    if feature.startswith(_CHAT_PANEL) and feature.endswith(_MODE):
        mode = feature[len(_CHAT_PANEL) : -len(_MODE)]
        return mode or None
    return None


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
    hash_key: bytes | None = None,
    breakdowns: Collection[Dimension] = (),
    emit_day: bool = False,
) -> dict[TruthKey, float]:
    """Every series of one report window: what the exporter's snapshot of it must hold, nothing more.

    Additive values (the seven counters, ``totals_by_cli``, aggregate ``pull_requests`` when
    ``include_pr``) are summed over the window per user (``all`` for aggregates); active-user gauges
    come from the newest aggregate day only. ``breakdowns`` adds `copilot_breakdown_truth` for each
    dimension (``feature`` also brings its ``chat_mode`` view). With ``emit_day`` each day is its own
    series (a ``day`` label) and nothing is summed across days.
    """
    scope_id = dataset.canonical_scope_id(scope, scope_id)
    records = _records(dataset, scope, scope_id, report, window, day)
    out: dict[TruthKey, float] = {}
    newest: dict[str | None, dict[str, Any]] = {}
    for record in records:
        user = _user_label(record, user_mode, hash_key) if report == "users" else "all"
        day_label = str(record["day"]) if emit_day and record.get("day") else None
        base = _base_labels(scope, scope_id, report, window, user, day_label)
        labels = _labels(**base)
        for counter in COUNTERS:
            _add(out, (PREFIX + counter, labels), record.get(counter))
        for prefix, block in (("cli", "totals_by_cli"), ("copilot_app", "totals_by_copilot_app")):
            totals = _object(record, block)
            for field in CLI_FIELDS:
                _add(out, (f"{PREFIX}{prefix}_{field}", labels), totals.get(field))
            tokens = _object(totals, "token_usage")
            for field in TOKEN_FIELDS:
                _add(out, (f"{PREFIX}{prefix}_{field}", labels), tokens.get(field))
        vscode = _object(record, "totals_by_vscode_agent")
        for field in VSCODE_AGENT_FIELDS:
            _add(out, (f"{PREFIX}vscode_agent_{field}", labels), vscode.get(field))
        _add(out, (f"{PREFIX}ai_credits_used", labels), record.get("ai_credits_used"))
        for agent in _elements(record, "totals_by_3rd_party_agent"):
            name = agent.get("agent_name") or agent.get("agent_id")
            if name is None:
                continue
            agent_labels = _labels(**base, agent=str(name))
            _add(
                out,
                (f"{PREFIX}third_party_agent_user_initiated_interaction_count", agent_labels),
                agent.get("user_initiated_interaction_count"),
            )
            _add(out, (f"{PREFIX}third_party_agent_session_count", agent_labels), agent.get("session_count"))
        if report == "aggregate":
            if include_pr:
                prs = _object(record, "pull_requests")
                for field in (*PR_FIELDS, *PR_FIELDS_2026):
                    _add(out, (f"{PREFIX}pull_requests_{field}", labels), prs.get(field))
                for element in _elements(prs, "copilot_suggestions_by_comment_type"):
                    kind = element.get("comment_type")
                    if kind is None:
                        continue
                    kind_labels = _labels(**base, comment_type=str(kind))
                    for field, name in (
                        ("total_copilot_suggestions", "copilot_suggestions_by_comment_type"),
                        ("total_copilot_applied_suggestions", "copilot_applied_suggestions_by_comment_type"),
                    ):
                        _add(out, (f"{PREFIX}pull_requests_{name}", kind_labels), element.get(field))
            for phase in _elements(record, "totals_by_ai_adoption_phase"):
                if phase.get("phase") is not None:
                    phase_labels = _labels(**base, phase=str(phase["phase"]))
                    key = (f"{PREFIX}ai_adoption_phase_total_pull_requests_merged", phase_labels)
                    _add(out, key, phase.get("total_pull_requests_merged"))
            current = newest.get(day_label)
            if current is None or str(record["day"]) > str(current["day"]):
                newest[day_label] = record
    # Active-user counts are distinct counts: summing them over days would be meaningless.
    for day_label, record in newest.items():
        labels = _labels(**_base_labels(scope, scope_id, report, window, "all", day_label))
        for gauge in (*ACTIVE_USER_GAUGES, *DAY_GAUGES_2026):
            value = record.get(gauge)
            if value is None and gauge in ZERO_WHEN_ABSENT:
                value = 0
            if value is not None:
                out[(PREFIX + gauge, labels)] = float(value)
        prs = _object(record, "pull_requests")
        if include_pr and window == "1d":
            for field in PR_MEDIANS:
                _put(out, (f"{PREFIX}pull_requests_{field}", labels), prs.get(field))
        for phase in _elements(record, "totals_by_ai_adoption_phase"):
            if phase.get("phase") is None:
                continue
            base = _base_labels(scope, scope_id, report, window, "all", day_label)
            phase_labels = _labels(**base, phase=str(phase["phase"]))
            _put(
                out,
                (f"{PREFIX}ai_adoption_phase_engaged_users", phase_labels),
                phase.get("total_engaged_users"),
            )
            for field in PHASE_AVERAGES:
                _put(out, (f"{PREFIX}ai_adoption_phase_{field}", phase_labels), phase.get(field))
    for dimension in breakdowns:
        views: tuple[BreakdownLabel, ...] = (
            (dimension, "chat_mode") if dimension == "feature" else (dimension,)
        )
        for view in views:
            out.update(
                copilot_breakdown_truth(
                    dataset,
                    scope,
                    scope_id,
                    report,
                    window,
                    day,
                    dimension=view,
                    user_mode=user_mode,
                    hash_key=hash_key,
                    emit_day=emit_day,
                )
            )
    return out


def copilot_record_count(
    dataset: CopilotDataset, scope: Scope, scope_id: str, report: Report, window: Window, day: date
) -> int:
    """Day records in the report (user rows, or aggregate days: a 28-day wrapper holds one per day).

    What gh_exporter_copilot_records_parsed_total grows by when the report is collected once.
    """
    scope_id = dataset.canonical_scope_id(scope, scope_id)
    return len(_records(dataset, scope, scope_id, report, window, day))


def copilot_breakdown_truth(
    dataset: CopilotDataset,
    scope: Scope,
    scope_id: str,
    report: Report,
    window: Window,
    day: date,
    *,
    dimension: BreakdownLabel,
    user_mode: UserMode = "login",
    hash_key: bytes | None = None,
    emit_day: bool = False,
) -> dict[TruthKey, float]:
    """The seven counters per breakdown value (label named after ``dimension``), summed over the window.

    ``language`` and ``model`` come from the language-by-feature and model-by-feature arrays summed over
    features, so language series have no user_initiated_interaction_count (the array lacks it).
    ``chat_mode`` is the feature array's ``chat_panel_<mode>_mode`` elements relabelled ``<mode>``.
    """
    scope_id = dataset.canonical_scope_id(scope, scope_id)
    array = _DIMENSION_ARRAYS[dimension]
    source = "feature" if dimension == "chat_mode" else dimension
    out: dict[TruthKey, float] = {}
    for record in _records(dataset, scope, scope_id, report, window, day):
        user = _user_label(record, user_mode, hash_key) if report == "users" else "all"
        day_label = str(record["day"]) if emit_day and record.get("day") else None
        base = _base_labels(scope, scope_id, report, window, user, day_label)
        for element in _elements(record, array):
            value = element.get(source)
            if value is None:
                continue
            label = _chat_mode(str(value)) if dimension == "chat_mode" else str(value)
            if label is None:
                continue
            labels = _labels(**base, **{dimension: label})
            for counter in COUNTERS:
                _add(out, (PREFIX + counter, labels), element.get(counter))
    return out


def _elements(record: dict[str, Any], array: str) -> Iterable[dict[str, Any]]:
    elements = record.get(array) or []
    return [e for e in elements if isinstance(e, dict)]
