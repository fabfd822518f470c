"""Copilot records → samples: label policy, every mapped field, 28-day sums, breakdowns, caps, label order."""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
from typing import Any

import pytest

from github_stats_exporter import metrics
from github_stats_exporter.scrape.copilot_map import LabelPolicy, MapOptions, ReportLabels, ReportMapper
from github_stats_exporter.scrape.copilot_parse import parse_body

KEY = b"k" * 32
COUNTERS = {
    "user_initiated_interaction_count": 1,
    "code_generation_activity_count": 2,
    "code_acceptance_activity_count": 3,
    "loc_suggested_to_add_sum": 4,
    "loc_suggested_to_delete_sum": 5,
    "loc_added_sum": 6,
    "loc_deleted_sum": 7,
}
P = "gh_copilot_usage_"


def user_row(login: str, uid: int, day: str, scale: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "user_login": login,
        "user_id": uid,
        "day": day,
        **{k: v * scale for k, v in COUNTERS.items()},
        "totals_by_cli": {"session_count": 1, "request_count": 4, "prompt_count": 2, "token_usage": {}},
        "totals_by_ide": [{"ide": "vscode", **COUNTERS}, {"ide": "vim", "loc_added_sum": 1}],
        "totals_by_feature": [
            {"feature": "code_completion", "code_generation_activity_count": 2},
            {"feature": "chat_panel_agent_mode", "user_initiated_interaction_count": 1},
        ],
        "totals_by_language_feature": [
            {"language": "go", "feature": "code_completion", "loc_added_sum": 2},
            {"language": "go", "feature": "chat_inline", "loc_added_sum": 3},
        ],
        "totals_by_model_feature": [{"model": "gpt-5.4", "feature": "chat_inline", "loc_added_sum": 5}],
        **extra,
    }


def aggregate_day(day: str, dau: int, **extra: Any) -> dict[str, Any]:
    return {
        "day": day,
        **COUNTERS,
        "daily_active_users": dau,
        "weekly_active_users": dau + 1,
        "monthly_active_users": dau + 2,
        "monthly_active_chat_users": dau + 3,
        "monthly_active_agent_users": dau + 4,
        "pull_requests": {
            "total_created": 1,
            "total_reviewed": 2,
            "total_created_by_copilot": 3,
            "total_reviewed_by_copilot": 4,
            "total_merged": 5,
            "total_merged_created_by_copilot": 6,
            "median_minutes_to_merge": 12.5,
        },
        **extra,
    }


def run(
    rows: list[dict[str, Any]], report: ReportLabels, options: MapOptions, windows: dict[str, str | None]
) -> ReportMapper:
    body = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    records, parser = parse_body(body, breakdowns=bool(options.breakdowns), users=report.is_users)
    assert parser.dropped == 0
    mapper = ReportMapper(report, options, windows)
    mapper.add_all(records)
    return mapper


def values(mapper: ReportMapper, window: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels)): s.value for s in mapper.samples(window)}


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset({"org": "acme", "repo": "*", **kw}.items())


@pytest.mark.parametrize(
    ("policy", "login", "uid", "expected"),
    [
        pytest.param(LabelPolicy("login"), "Alice", 7, "Alice", id="login"),
        pytest.param(LabelPolicy("login"), None, 7, "7", id="login-falls-back-to-id"),
        pytest.param(LabelPolicy("login"), None, None, "unknown", id="login-unknown"),
        pytest.param(LabelPolicy("id"), "Alice", 7, "7", id="id"),
        pytest.param(LabelPolicy("id"), "Alice", None, "Alice", id="id-falls-back-to-login"),
        pytest.param(LabelPolicy("none"), "Alice", 7, "redacted", id="none"),
        pytest.param(
            LabelPolicy("hashed", KEY),
            "Alice",
            7,
            hmac.new(KEY, b"Alice", hashlib.sha256).hexdigest()[:16],
            id="hashed-hmac-16",
        ),
        pytest.param(
            LabelPolicy("hashed", KEY),
            None,
            7,
            hmac.new(KEY, b"7", hashlib.sha256).hexdigest()[:16],
            id="hashed-id",
        ),
    ],
)
def test_user_label_policy(policy: LabelPolicy, login: str | None, uid: int | None, expected: str) -> None:
    """Each user_label_mode writes the documented label, with the documented fallbacks."""
    assert policy.user(login, uid) == expected


def test_hashed_labels_depend_on_the_key_and_are_not_bare_sha256() -> None:
    """Another key gives another label, and no label equals the unkeyed SHA-256 prefix (the Go bug)."""
    one = LabelPolicy("hashed", KEY).user("alice", 1)
    other = LabelPolicy("hashed", b"x" * 32).user("alice", 1)
    assert one != other
    assert one != hashlib.sha256(b"alice").hexdigest()[:16]
    assert len(one) == 16


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"mode": "hashed"}, id="hashed-without-key"),
        pytest.param({"mode": "email"}, id="unknown-mode"),
    ],
)
def test_bad_label_policies_are_refused(kwargs: dict[str, Any]) -> None:
    """hashed without a key and unknown modes are programming errors."""
    with pytest.raises(ValueError, match=r"user_label_mode|hash key"):
        LabelPolicy(**kwargs)


def test_users_report_sums_every_field_over_the_window_and_keeps_the_newest_day_apart() -> None:
    """Per-user rows: counters and CLI totals sum over the days (28d); the 1d view is the newest day only."""
    rows = [
        user_row("alice", 1, "2026-05-01"),
        user_row("alice", 1, "2026-05-02", scale=10),
        user_row("bob", 2, "2026-05-02"),
    ]
    mapper = run(rows, ReportLabels("acme", "users"), MapOptions(), {"28d": None, "1d": "2026-05-02"})
    got = values(mapper, "28d")
    alice = labels(user="alice", scope="users", window="28d")
    for field, base in COUNTERS.items():
        assert got[P + field, alice] == base * 11
    assert got[P + "cli_session_count", alice] == 2
    assert got[P + "cli_request_count", alice] == 8
    assert got[P + "cli_prompt_count", alice] == 4
    # Users reports carry no pull_requests and no active-user counts.
    assert not [k for k in got if "pull_requests" in k[0] or "active" in k[0]]
    day = values(mapper, "1d")
    assert day[P + "loc_added_sum", labels(user="alice", scope="users", window="1d")] == 60
    assert day[P + "loc_added_sum", labels(user="bob", scope="users", window="1d")] == 6


def test_aggregate_wrapper_sums_counters_and_prs_but_takes_active_users_from_the_newest_day() -> None:
    """day_totals: additive fields are summed, distinct-user counts come from the newest day, never summed."""
    wrapper = {
        "report_start_day": "2026-04-04",
        "report_end_day": "2026-05-02",
        "day_totals": [
            aggregate_day("2026-05-02", 10, daily_active_cli_users=3),
            aggregate_day("2026-05-01", 20),
        ],
    }
    mapper = run([wrapper], ReportLabels("acme", "org"), MapOptions(), {"28d": None, "1d": "2026-05-02"})
    got = values(mapper, "28d")
    base = labels(user="all", scope="org", window="28d")
    assert got[P + "loc_deleted_sum", base] == 14
    assert got[P + "pull_requests_total_created", base] == 2
    assert got[P + "pull_requests_total_reviewed", base] == 4
    assert got[P + "pull_requests_total_created_by_copilot", base] == 6
    assert got[P + "pull_requests_total_reviewed_by_copilot", base] == 8
    assert got[P + "pull_requests_total_merged", base] == 10
    assert got[P + "pull_requests_total_merged_created_by_copilot", base] == 12
    assert got[P + "daily_active_users", base] == 10
    assert got[P + "weekly_active_users", base] == 11
    assert got[P + "monthly_active_users", base] == 12
    assert got[P + "monthly_active_chat_users", base] == 13
    assert got[P + "monthly_active_agent_users", base] == 14
    assert got[P + "daily_active_cli_users", base] == 3
    assert mapper.records == 2
    one_day = values(mapper, "1d")
    assert one_day[P + "loc_deleted_sum", labels(user="all", scope="org", window="1d")] == 7


def test_a_day_without_cli_use_reports_zero_cli_users() -> None:
    """GitHub omits daily_active_cli_users when nobody used the CLI; that is exported as 0."""
    mapper = run(
        [aggregate_day("2026-05-02", 4)], ReportLabels("ent", "enterprise"), MapOptions(), {"1d": None}
    )
    got = values(mapper, "1d")
    key = frozenset({"org": "ent", "repo": "*", "user": "all", "scope": "enterprise", "window": "1d"}.items())
    assert got[P + "daily_active_cli_users", key] == 0


def test_null_active_counts_produce_no_series() -> None:
    """A null distinct-user count is absent, not zero."""
    mapper = run(
        [aggregate_day("2026-05-02", 4, weekly_active_users=None)],
        ReportLabels("acme", "org"),
        MapOptions(),
        {"1d": None},
    )
    assert not [s for s in mapper.samples("1d") if s.name == P + "weekly_active_users"]


def test_pull_requests_can_be_switched_off() -> None:
    """include_pull_requests=False drops all pull-request families."""
    mapper = run(
        [aggregate_day("2026-05-02", 4)],
        ReportLabels("acme", "org"),
        MapOptions(include_pull_requests=False),
        {"1d": None},
    )
    assert not [s for s in mapper.samples("1d") if "pull_requests" in s.name]


def test_breakdowns_come_from_the_nested_arrays_one_dimension_per_series() -> None:
    """ide/feature/language/model series come from their arrays (language and model summed over features); chat_mode from feature."""
    options = MapOptions(breakdowns=frozenset({"ide", "feature", "language", "model"}))
    rows = [user_row("alice", 1, "2026-05-01"), user_row("alice", 1, "2026-05-02")]
    got = values(run(rows, ReportLabels("acme", "users"), options, {"28d": None}), "28d")
    user = {"user": "alice", "scope": "users", "window": "28d"}
    assert got[P + "loc_added_sum", labels(**user, ide="vscode")] == 12
    assert got[P + "loc_added_sum", labels(**user, ide="vim")] == 2
    assert got[P + "code_generation_activity_count", labels(**user, feature="code_completion")] == 4
    assert got[P + "user_initiated_interaction_count", labels(**user, feature="chat_panel_agent_mode")] == 2
    assert got[P + "user_initiated_interaction_count", labels(**user, chat_mode="agent")] == 2
    assert got[P + "loc_added_sum", labels(**user, language="go")] == 10
    assert got[P + "loc_added_sum", labels(**user, model="gpt-5.4")] == 10
    # The language array has no interaction counter, so there is no such series.
    assert (P + "user_initiated_interaction_count", labels(**user, language="go")) not in got
    breakdown = {"ide", "feature", "language", "model", "chat_mode"}
    assert all(len({k for k, _ in key} & breakdown) <= 1 for _, key in got)


def test_breakdown_counters_missing_from_some_elements_are_summed_over_those_that_carry_them() -> None:
    """A counter absent from one day's element and present in another's sums the present ones; absent everywhere, no series."""
    options = MapOptions(breakdowns=frozenset({"ide", "language"}))
    first = user_row("alice", 1, "2026-05-01", totals_by_ide=[{"ide": "vim", "loc_added_sum": 1}])
    second = user_row(
        "alice", 1, "2026-05-02", totals_by_ide=[{"ide": "vim", **COUNTERS, "loc_deleted_sum": None}]
    )
    got = values(run([first, second], ReportLabels("acme", "users"), options, {"28d": None}), "28d")
    vim = labels(user="alice", scope="users", window="28d", ide="vim")
    assert got[P + "loc_added_sum", vim] == 7
    assert got[P + "user_initiated_interaction_count", vim] == 1
    assert got[P + "loc_suggested_to_delete_sum", vim] == 5
    assert (P + "loc_deleted_sum", vim) not in got
    go = labels(user="alice", scope="users", window="28d", language="go")
    assert got[P + "loc_added_sum", go] == 10
    assert (P + "code_generation_activity_count", go) not in got


def test_mapping_leaves_the_cyclic_gc_as_it_found_it() -> None:
    """add_all and samples pause the cyclic GC while they work and restore its previous state."""
    options = MapOptions(breakdowns=frozenset({"ide"}))
    rows = [user_row("alice", 1, "2026-05-01")]
    was_enabled = gc.isenabled()
    try:
        gc.enable()
        mapper = run(rows, ReportLabels("acme", "users"), options, {"28d": None})
        assert mapper.samples("28d")
        assert gc.isenabled()
        gc.disable()
        run(rows, ReportLabels("acme", "users"), options, {"28d": None}).samples("28d")
        assert not gc.isenabled()
    finally:
        if was_enabled:
            gc.enable()


def test_breakdowns_are_off_by_default() -> None:
    """Without include_breakdown_* no series carries a breakdown label."""
    got = values(
        run([user_row("a", 1, "2026-05-01")], ReportLabels("acme", "users"), MapOptions(), {"28d": None}),
        "28d",
    )
    assert all(
        not ({k for k, _ in key} & {"ide", "feature", "language", "model", "chat_mode"}) for _, key in got
    )


def test_day_label_keeps_days_apart_instead_of_summing() -> None:
    """emit_day_label: one series per day with day=YYYY-MM-DD, each holding that day's value."""
    options = MapOptions(labels=LabelPolicy(emit_day_label=True))
    rows = [user_row("alice", 1, "2026-05-01"), user_row("alice", 1, "2026-05-02", scale=3)]
    got = values(run(rows, ReportLabels("acme", "users"), options, {"28d": None}), "28d")
    base = {"user": "alice", "scope": "users", "window": "28d"}
    assert got[P + "loc_added_sum", labels(**base, day="2026-05-01")] == 6
    assert got[P + "loc_added_sum", labels(**base, day="2026-05-02")] == 18


@pytest.mark.parametrize(
    ("options", "kept_users", "drops"),
    [
        pytest.param(MapOptions(), {"a", "b", "c"}, {}, id="unbounded"),
        pytest.param(MapOptions(max_users=2), {"a", "b"}, {"max_users_per_report": 1}, id="max-users"),
        pytest.param(MapOptions(max_records=3), {"a", "b"}, {"max_records_per_report": 2}, id="max-records"),
        pytest.param(
            MapOptions(max_records=4, max_users=1),
            {"a"},
            {"max_users_per_report": 3, "max_records_per_report": 0},
            id="both",
        ),
    ],
)
def test_caps_are_hard_and_counted(options: MapOptions, kept_users: set[str], drops: dict[str, int]) -> None:
    """max_users keeps the first N distinct users, max_records the first N records; every drop is counted."""
    rows = [
        user_row("a", 1, "2026-05-01"),
        user_row("b", 2, "2026-05-01"),
        user_row("a", 1, "2026-05-02"),
        user_row("c", 3, "2026-05-02"),
        user_row("b", 2, "2026-05-02"),
    ]
    mapper = run(rows, ReportLabels("acme", "users"), options, {"28d": None})
    assert {s.label("user") for s in mapper.samples("28d")} == kept_users
    assert mapper.dropped == {k: v for k, v in drops.items() if v}
    assert mapper.records == 5


def test_user_cap_counts_people_not_labels() -> None:
    """With user_label_mode none every user is "redacted", but max_users still counts distinct users."""
    rows = [user_row("a", 1, "2026-05-01"), user_row("b", 2, "2026-05-01"), user_row("c", 3, "2026-05-01")]
    mapper = run(
        rows,
        ReportLabels("acme", "users"),
        MapOptions(labels=LabelPolicy("none"), max_users=2),
        {"28d": None},
    )
    value = {s.name: s.value for s in mapper.samples("28d")}
    assert value[P + "loc_added_sum"] == 12
    assert mapper.dropped == {"max_users_per_report": 1}


def test_samples_follow_the_metric_contract_label_order() -> None:
    """Every sample equals what MetricSpec.sample builds from the same labels (names, order, allowed labels)."""
    options = MapOptions(
        labels=LabelPolicy(emit_day_label=True), breakdowns=frozenset({"ide", "feature", "language", "model"})
    )
    wrapper = {
        "day_totals": [aggregate_day("2026-05-02", 3, totals_by_ide=[{"ide": "vscode", "loc_added_sum": 1}])]
    }
    for report, rows in (
        (ReportLabels("acme", "users"), [user_row("a", 1, "2026-05-01")]),
        (ReportLabels("acme", "org"), [wrapper]),
    ):
        mapper = run(rows, report, options, {"28d": None, "1d": "2026-05-02"})
        for window in ("28d", "1d"):
            for sample in mapper.samples(window):
                spec = metrics.spec_for(sample.name)
                assert spec.sample(sample.value, dict(sample.labels)) == sample


def test_mapper_needs_a_window() -> None:
    """A mapper without any window view is a wiring error."""
    with pytest.raises(ValueError, match="window"):
        ReportMapper(ReportLabels("acme", "org"), MapOptions(), {})
