"""Copilot records → samples for the fields GitHub added in 2026: newest-day values, additive objects,
keyed arrays with bounded labels, pull-request medians, both 28-day users report shapes, tolerance."""

from __future__ import annotations

import json
from typing import Any

import pytest

from github_stats_exporter import metrics
from github_stats_exporter.scrape.copilot_map import (
    MAX_LABEL_VALUES,
    LabelPolicy,
    MapOptions,
    ReportLabels,
    ReportMapper,
)
from github_stats_exporter.scrape.copilot_parse import parse_body

P = "gh_copilot_usage_"
D1, D2 = "2026-09-20", "2026-09-21"
ORG = ReportLabels("acme", "org")
USERS = ReportLabels("acme", "users")
BOTH = {"28d": None, "1d": D2}
Key = tuple[str, frozenset[tuple[str, str]]]


def run(
    rows: list[dict[str, Any]],
    report: ReportLabels,
    windows: dict[str, str | None],
    options: MapOptions | None = None,
) -> ReportMapper:
    body = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    records, parser = parse_body(body, users=report.is_users)
    assert parser.dropped == 0
    mapper = ReportMapper(report, options or MapOptions(), windows)
    mapper.add_all(records)
    return mapper


def values(mapper: ReportMapper, window: str) -> dict[Key, float]:
    return {(s.name, frozenset(s.labels)): s.value for s in mapper.samples(window)}


def key(name: str, window: str = "28d", user: str = "all", scope: str = "org", **extra: str) -> Key:
    labels = {"org": "acme", "repo": "*", "user": user, "scope": scope, "window": window, **extra}
    return (P + name, frozenset(labels.items()))


def usage(sessions: int, requests: int, prompts: int, out: int, prompt: int) -> dict[str, Any]:
    return {
        "session_count": sessions,
        "request_count": requests,
        "prompt_count": prompts,
        "token_usage": {"output_tokens_sum": out, "prompt_tokens_sum": prompt, "avg_tokens_per_request": 1.5},
    }


def phase(name: str, engaged: int, merged: int | None, avg: float) -> dict[str, Any]:
    element: dict[str, Any] = {"phase": name, "phase_number": 1, "total_engaged_users": engaged}
    element.update(dict.fromkeys(PHASE_AVERAGE_FIELDS, avg))
    if merged is not None:
        element["total_pull_requests_merged"] = merged
    return element


PHASE_AVERAGE_FIELDS = tuple(
    s.name.removeprefix(P + "ai_adoption_phase_") for s in metrics.COPILOT_PHASE_AVERAGES
)
DAY_GAUGE_FIELDS = tuple(s.name.removeprefix(P) for s in metrics.COPILOT_DAY_GAUGES_2026)


def day1() -> dict[str, Any]:
    return {
        "day": D1,
        **dict.fromkeys(DAY_GAUGE_FIELDS, 50),
        "totals_by_cli": usage(1, 2, 3, 40, 50),
        "totals_by_copilot_app": usage(2, 3, 4, 100, 200),
        "totals_by_vscode_agent": {"session_count": 4, "total_user_messages": 9},
        "totals_by_3rd_party_agent": [
            {
                "agent_id": "1",
                "agent_name": "Claude (Anthropic)",
                "user_initiated_interaction_count": 2,
                "session_count": 1,
            },
            {
                "agent_id": "2",
                "agent_name": "Codex (OpenAI)",
                "user_initiated_interaction_count": 5,
                "session_count": 3,
            },
        ],
        "totals_by_ai_adoption_phase": [phase("Phase 1", 4, 2, 1.0), phase("Phase 3", 1, 7, 9.0)],
        "pull_requests": {
            "total_suggestions": 10,
            "total_applied_suggestions": 4,
            "total_copilot_suggestions": 6,
            "total_copilot_applied_suggestions": 2,
            "total_merged_reviewed_by_copilot": 3,
            "median_minutes_to_merge": 99.0,
            "copilot_suggestions_by_comment_type": [
                {
                    "comment_type": "security",
                    "total_copilot_suggestions": 4,
                    "total_copilot_applied_suggestions": 1,
                },
                {
                    "comment_type": "bug_risk",
                    "total_copilot_suggestions": 2,
                    "total_copilot_applied_suggestions": 1,
                },
            ],
        },
    }


def day2() -> dict[str, Any]:
    # Newest day: some 2026 scalars null or absent, no app/VS Code/agent objects, one phase only,
    # one median null and another absent; plus fields nobody has documented.
    gauges: dict[str, Any] = dict.fromkeys(DAY_GAUGE_FIELDS, 7)
    gauges["daily_active_copilot_cloud_agent_users"] = None
    del gauges["daily_active_vscode_agent_users"]
    return {
        "day": D2,
        **gauges,
        "totals_by_copilot_app": None,
        "totals_by_ai_adoption_phase": [phase("Phase 1", 5, None, 2.0)],
        "pull_requests": {
            "total_suggestions": 1,
            "total_copilot_suggestions": 1,
            "median_minutes_to_merge": None,
            "median_minutes_to_merge_copilot_reviewed": 30.5,
            "copilot_suggestions_by_comment_type": [
                {
                    "comment_type": "security",
                    "total_copilot_suggestions": 1,
                    "total_copilot_applied_suggestions": 0,
                }
            ],
            "future_pr_field": {"x": 1},
        },
        "totals_by_quantum_agent": [{"qubits": 3}],
        "copilot_feature_engagement": {"active_user_count": 3, "totals_by_feature": []},
    }


def test_aggregate_2026_fields_sum_over_the_window_and_take_newest_day_values() -> None:
    """28d: app/CLI tokens/VS Code/agents/PR fields/comment types/phase merges summed; scalars and phase
    averages from the newest day only, null or absent ones without a series; no medians in 28d."""
    mapper = run([{"report_end_day": D2, "day_totals": [day1(), day2()]}], ORG, BOTH)
    got = values(mapper, "28d")
    expected_sums = {
        key("cli_output_tokens_sum"): 40,
        key("cli_prompt_tokens_sum"): 50,
        key("copilot_app_session_count"): 2,
        key("copilot_app_request_count"): 3,
        key("copilot_app_prompt_count"): 4,
        key("copilot_app_output_tokens_sum"): 100,
        key("copilot_app_prompt_tokens_sum"): 200,
        key("vscode_agent_session_count"): 4,
        key("vscode_agent_total_user_messages"): 9,
        key("third_party_agent_user_initiated_interaction_count", agent="Claude (Anthropic)"): 2,
        key("third_party_agent_session_count", agent="Claude (Anthropic)"): 1,
        key("third_party_agent_user_initiated_interaction_count", agent="Codex (OpenAI)"): 5,
        key("third_party_agent_session_count", agent="Codex (OpenAI)"): 3,
        key("pull_requests_total_suggestions"): 11,
        key("pull_requests_total_applied_suggestions"): 4,
        key("pull_requests_total_copilot_suggestions"): 7,
        key("pull_requests_total_copilot_applied_suggestions"): 2,
        key("pull_requests_total_merged_reviewed_by_copilot"): 3,
        key("pull_requests_copilot_suggestions_by_comment_type", comment_type="security"): 5,
        key("pull_requests_copilot_applied_suggestions_by_comment_type", comment_type="security"): 1,
        key("pull_requests_copilot_suggestions_by_comment_type", comment_type="bug_risk"): 2,
        key("pull_requests_copilot_applied_suggestions_by_comment_type", comment_type="bug_risk"): 1,
        key("ai_adoption_phase_total_pull_requests_merged", phase="Phase 1"): 2,
        key("ai_adoption_phase_total_pull_requests_merged", phase="Phase 3"): 7,
    }
    for k, v in expected_sums.items():
        assert got.pop(k) == v, k
    newest = {
        **{
            key(f): 7.0
            for f in DAY_GAUGE_FIELDS
            if f not in ("daily_active_copilot_cloud_agent_users", "daily_active_vscode_agent_users")
        },
        key("ai_adoption_phase_engaged_users", phase="Phase 1"): 5.0,
        **{key(f"ai_adoption_phase_{f}", phase="Phase 1"): 2.0 for f in PHASE_AVERAGE_FIELDS},
    }
    for k, expected in newest.items():
        assert got.pop(k) == expected, k
    # What is left are the pre-2026 families only (counters are absent here, so only the CLI users gauge).
    assert {name for name, _ in got} <= {
        P + "daily_active_cli_users",
        P + "cli_session_count",
        P + "cli_request_count",
        P + "cli_prompt_count",
    }


def test_medians_are_newest_day_gauges_of_the_1d_view_only() -> None:
    """The 1d view carries the newest day's non-null medians; the 28d view never carries a median."""
    mapper = run([{"day_totals": [day1(), day2()]}], ORG, BOTH)
    medians = {s.name for s in metrics.COPILOT_PRS_MEDIANS}
    assert not [k for k in values(mapper, "28d") if k[0] in medians]
    one_day = {k: v for k, v in values(mapper, "1d").items() if k[0] in medians}
    assert one_day == {key("pull_requests_median_minutes_to_merge_copilot_reviewed", window="1d"): 30.5}
    only_d1 = run([day1()], ORG, {"1d": None})
    assert values(only_d1, "1d")[key("pull_requests_median_minutes_to_merge", window="1d")] == 99.0


def test_switching_pull_requests_off_drops_every_pull_request_family_but_not_phases() -> None:
    """include_pull_requests=False: no pull_requests_* series (medians, comment types too); phases stay."""
    mapper = run([day1()], ORG, {"1d": None}, MapOptions(include_pull_requests=False))
    names = {name for name, _ in values(mapper, "1d")}
    assert not [n for n in names if n.startswith(P + "pull_requests_")]
    assert P + "ai_adoption_phase_total_pull_requests_merged" in names


def test_users_rows_sum_credits_app_and_agent_job_starts_per_user() -> None:
    """Users reports: ai_credits_used (a float) and the objects are summed per user; agents have no sessions."""
    rows = [
        {
            "user_login": "ann",
            "user_id": 1,
            "day": day,
            "ai_credits_used": credits,
            "totals_by_copilot_app": usage(1, 1, 1, 10, 20),
            "totals_by_3rd_party_agent": [
                {"agent_id": "9", "agent_name": "Jules", "user_initiated_interaction_count": 2}
            ],
            "distinct_mcp_use_count": 3,
            "ai_adoption_phase": {"phase": "Phase 2", "phase_number": 2, "version": "v1"},
        }
        for day, credits in ((D1, 12.5), (D2, 0.25))
    ]
    got = values(run(rows, USERS, BOTH), "28d")
    ann = {"user": "ann", "scope": "users"}
    assert got == {
        key("ai_credits_used", **ann): 12.75,
        key("copilot_app_session_count", **ann): 2,
        key("copilot_app_request_count", **ann): 2,
        key("copilot_app_prompt_count", **ann): 2,
        key("copilot_app_output_tokens_sum", **ann): 20,
        key("copilot_app_prompt_tokens_sum", **ann): 40,
        key("third_party_agent_user_initiated_interaction_count", agent="Jules", **ann): 4,
    }


def test_an_agent_without_name_falls_back_to_its_id_and_one_without_either_is_skipped() -> None:
    """agent = agent_name, else agent_id; an element with neither gives no series."""
    record = {
        "day": D1,
        "totals_by_3rd_party_agent": [
            {"agent_id": 77, "user_initiated_interaction_count": 1},
            {"user_initiated_interaction_count": 5},
        ],
    }
    got = values(run([record], ORG, {"1d": None}), "1d")
    got.pop(key("daily_active_cli_users", window="1d"))  # 0 when absent, as before 2026
    assert got == {key("third_party_agent_user_initiated_interaction_count", window="1d", agent="77"): 1}


@pytest.mark.parametrize(
    ("array", "element"),
    [
        pytest.param(
            "totals_by_3rd_party_agent",
            lambda i: {"agent_name": f"agent-{i}", "user_initiated_interaction_count": 1},
            id="agent",
        ),
        pytest.param(
            "totals_by_ai_adoption_phase",
            lambda i: {"phase": f"Phase {i}", "total_engaged_users": 1},
            id="phase",
        ),
        pytest.param(
            "pull_requests",
            lambda i: {"comment_type": f"type-{i}", "total_copilot_suggestions": 1},
            id="comment_type",
        ),
    ],
)
def test_keyed_labels_are_capped_per_report_and_drops_are_counted(array: str, element: Any) -> None:
    """At most MAX_LABEL_VALUES distinct values per label and report; later values are skipped and counted."""
    extra = MAX_LABEL_VALUES + 5
    elements = [element(i) for i in range(MAX_LABEL_VALUES + extra)]
    days = []
    for day in (D1, D2):
        if array == "pull_requests":
            days.append({"day": day, "pull_requests": {"copilot_suggestions_by_comment_type": elements}})
        else:
            days.append({"day": day, array: elements})
    mapper = run([{"day_totals": days}], ORG, BOTH)
    label = {"totals_by_3rd_party_agent": "agent", "totals_by_ai_adoption_phase": "phase"}.get(
        array, "comment_type"
    )
    for window in ("28d", "1d"):
        seen = {dict(labels)[label] for _, labels in values(mapper, window) if label in dict(labels)}
        assert len(seen) == MAX_LABEL_VALUES
    assert mapper.label_drops == {label: 2 * extra}


def test_a_day_without_any_2026_field_produces_no_2026_series() -> None:
    """A record of the pre-2026 shape gives none of the new families (no zeros invented)."""
    mapper = run(
        [{"day": D1, "daily_active_users": 3, "pull_requests": {"total_created": 1}}], ORG, {"1d": None}
    )
    new = {s.name for s in metrics.FAMILIES.values()} - _pre_2026()
    assert not [s for s in mapper.samples("1d") if s.name in new]


def _pre_2026() -> set[str]:
    specs = (
        *(
            metrics.COPILOT_DAILY_ACTIVE_USERS,
            metrics.COPILOT_WEEKLY_ACTIVE_USERS,
            metrics.COPILOT_MONTHLY_ACTIVE_USERS,
        ),
        metrics.COPILOT_MONTHLY_ACTIVE_CHAT_USERS,
        metrics.COPILOT_MONTHLY_ACTIVE_AGENT_USERS,
        metrics.COPILOT_DAILY_ACTIVE_CLI_USERS,
        metrics.COPILOT_PRS_CREATED,
    )
    return {s.name for s in specs}


def user_day(login: str, uid: int, day: str | None, loc: int, credits: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "user_login": login,
        "user_id": uid,
        "report_start_day": "2026-08-25",
        "report_end_day": D2,
        "loc_added_sum": loc,
        "ai_credits_used": credits,
    }
    if day is not None:
        row["day"] = day
    return row


def test_28_day_users_report_one_row_per_user_and_day() -> None:
    """Per-(user, day) rows: 28d sums every day of a user; 1d holds the newest day's rows only."""
    rows = [user_day("ann", 1, D1, 3, 1.5), user_day("ann", 1, D2, 4, 2.0), user_day("bob", 2, D1, 5, 0.5)]
    mapper = run(rows, USERS, BOTH)
    ann, bob = {"user": "ann", "scope": "users"}, {"user": "bob", "scope": "users"}
    assert values(mapper, "28d") == {
        key("loc_added_sum", **ann): 7,
        key("ai_credits_used", **ann): 3.5,
        key("loc_added_sum", **bob): 5,
        key("ai_credits_used", **bob): 0.5,
    }
    assert values(mapper, "1d") == {
        key("loc_added_sum", window="1d", **ann): 4,
        key("ai_credits_used", window="1d", **ann): 2.0,
    }


def test_28_day_users_report_one_row_per_user_for_the_whole_window() -> None:
    """Whole-window rows (no day): 28d takes each row once; the 1d view is empty, never the window's totals."""
    rows = [user_day("ann", 1, None, 7, 3.5), user_day("bob", 2, None, 5, 0.5)]
    mapper = run(rows, USERS, BOTH)
    ann, bob = {"user": "ann", "scope": "users"}, {"user": "bob", "scope": "users"}
    assert values(mapper, "28d") == {
        key("loc_added_sum", **ann): 7,
        key("ai_credits_used", **ann): 3.5,
        key("loc_added_sum", **bob): 5,
        key("ai_credits_used", **bob): 0.5,
    }
    assert mapper.samples("1d") == []
    with_days = run(rows, USERS, BOTH, MapOptions(labels=LabelPolicy(emit_day_label=True)))
    assert values(with_days, "28d") == values(mapper, "28d")  # no day to label: no day label


def test_2026_samples_follow_the_metric_contract_label_order() -> None:
    """Every new sample (with and without day labels) equals what MetricSpec.sample builds from its labels."""
    for emit_day in (False, True):
        options = MapOptions(labels=LabelPolicy(emit_day_label=emit_day))
        for report, rows in (
            (ORG, [{"day_totals": [day1(), day2()]}]),
            (
                USERS,
                [
                    user_day("ann", 1, D2, 1, 1.0)
                    | {
                        "totals_by_3rd_party_agent": [
                            {"agent_name": "x", "user_initiated_interaction_count": 1}
                        ]
                    }
                ],
            ),
        ):
            mapper = run(rows, report, BOTH, options)
            samples = mapper.samples("28d") + mapper.samples("1d")
            assert samples
            for sample in samples:
                spec = metrics.spec_for(sample.name)
                assert spec.sample(sample.value, dict(sample.labels)) == sample
