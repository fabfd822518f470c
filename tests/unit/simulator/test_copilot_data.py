"""The simulated Copilot reports have GitHub's shapes, agree with themselves, and their truth adds up."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

import pytest

from github_stats_exporter.simulator.copilot_data import (
    BREAKDOWNS,
    COUNTERS,
    CopilotDataset,
    Report,
    Scope,
    UnknownScope,
    Window,
)
from github_stats_exporter.simulator.copilot_truth import (
    ACTIVE_USER_GAUGES,
    CLI_FIELDS,
    NEWEST_DAY_FAMILIES,
    PR_FIELDS,
    Dimension,
    copilot_breakdown_truth,
    copilot_truth,
)

FIRST_DAY = date(2026, 1, 5)
END_DAY = date(2026, 3, 4)  # a Wednesday, well past FIRST_DAY + 28 days
ACME = [f"dev{i:02d}" for i in range(30)]
BETA = [f"dev{i:02d}" for i in range(24, 42)]  # dev24..dev29 are members of both orgs
SHARED = sorted(set(ACME) & set(BETA))
ORGS = {"acme": ACME, "beta": BETA}

DS = CopilotDataset(11, ORGS, "megacorp", FIRST_DAY)

REPORTS = [
    pytest.param(scope, scope_id, report, window, id=f"{scope}-{report}-{window}")
    for scope, scope_id in (("org", "acme"), ("enterprise", "megacorp"))
    for report in ("users", "aggregate")
    for window in ("1d", "28d")
]

COUNTER_TYPES = dict.fromkeys(COUNTERS, int)
USER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "user_id": int,
    "user_login": str,
    "day": str,
    "enterprise_id": str,
    **COUNTER_TYPES,
    "used_agent": bool,
    "used_chat": bool,
    "used_cli": bool,
    "used_copilot_coding_agent": bool,
    "used_copilot_cloud_agent": bool,
    "ai_adoption_phase": dict,
    **{name: list for name, *_ in BREAKDOWNS},
    "etl_id": str,
    "day_partition": str,
    "entity_id_partition": int,
}
USER_NULLABLE = {"used_copilot_code_review_active": bool, "used_copilot_code_review_passive": bool}
AGGREGATE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "day": str,
    "enterprise_id": str,
    "daily_active_users": int,
    "weekly_active_users": int,
    "monthly_active_users": int,
    "monthly_active_chat_users": int,
    "monthly_active_agent_users": int,
    **{
        f"{period}_{kind}_copilot_code_review_users": int
        for period in ("daily", "weekly", "monthly")
        for kind in ("active", "passive")
    },
    **COUNTER_TYPES,
    **{name: list for name, *_ in BREAKDOWNS},
    "totals_by_ai_adoption_phase": list,
    "pull_requests": dict,
}
AGGREGATE_NULLABLE = {f"{p}_active_copilot_cloud_agent_users": int for p in ("daily", "weekly", "monthly")}
PR_INT_FIELDS = (
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
PR_MEDIANS = (
    "median_minutes_to_merge",
    "median_minutes_to_merge_copilot_authored",
    "median_minutes_to_merge_copilot_reviewed",
)
PHASE_FIELDS = (
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


def _days(end: date, n: int) -> list[date]:
    return [end - timedelta(days=i) for i in range(n - 1, -1, -1)]


def _check_fields(record: dict[str, Any], required: dict[str, Any], nullable: dict[str, Any]) -> None:
    for name, kind in required.items():
        assert name in record, name
        assert isinstance(record[name], kind), (name, record[name])
        if kind is int:
            assert not isinstance(record[name], bool), name
    for name, kind in nullable.items():
        assert name in record, name
        assert record[name] is None or isinstance(record[name], kind), (name, record[name])


def _check_breakdowns(record: dict[str, Any], *, per_user: bool) -> None:
    for name, dims, _, first in BREAKDOWNS:
        keys = []
        for element in record[name]:
            expected = set(dims) | set(COUNTERS[first:])
            if per_user and name == "totals_by_ide":
                expected |= {"last_known_ide_version", "last_known_plugin_version"}
                assert set(element["last_known_ide_version"]) == {"ide_version", "sampled_at"}
                assert set(element["last_known_plugin_version"]) == {"plugin", "plugin_version", "sampled_at"}
            assert set(element) == expected, name
            assert all(isinstance(element[c], int) for c in COUNTERS[first:])
            keys.append(tuple(element[d] for d in dims))
        assert keys == sorted(keys), f"{name} is not in a deterministic order"
        assert len(keys) == len(set(keys)), f"{name} repeats a key"


def _check_cli(block: dict[str, Any], *, per_user: bool) -> None:
    assert {"session_count", "request_count", "prompt_count", "token_usage"} <= set(block)
    usage = block["token_usage"]
    assert set(usage) == {"output_tokens_sum", "prompt_tokens_sum", "avg_tokens_per_request"}
    if block["request_count"]:
        expected = (usage["output_tokens_sum"] + usage["prompt_tokens_sum"]) / block["request_count"]
        assert usage["avg_tokens_per_request"] == pytest.approx(expected, abs=0.051)
    else:
        assert usage["avg_tokens_per_request"] is None
    assert ("last_known_cli_version" in block) == per_user


def _check_user_row(row: dict[str, Any], scope: str, window: str) -> None:
    required = dict(USER_FIELDS)
    if scope == "org":
        required["organization_id"] = str
    else:
        assert "organization_id" not in row
    if window == "28d":
        required |= {"report_start_day": str, "report_end_day": str}
    _check_fields(row, required, USER_NULLABLE)
    assert set(row["ai_adoption_phase"]) == {"phase_number", "phase", "version"}
    assert "pull_requests" not in row
    assert "daily_active_users" not in row
    _check_breakdowns(row, per_user=True)
    if "totals_by_cli" in row:
        assert row["used_cli"]
        _check_cli(row["totals_by_cli"], per_user=True)
    else:
        assert not row["used_cli"]


def _check_aggregate_day(record: dict[str, Any], scope: str) -> None:
    required = dict(AGGREGATE_FIELDS)
    if scope == "org":
        required["organization_id"] = str
    _check_fields(record, required, AGGREGATE_NULLABLE)
    assert "user_id" not in record
    _check_breakdowns(record, per_user=False)
    if "daily_active_cli_users" in record:
        assert record["daily_active_cli_users"] > 0
        _check_cli(record["totals_by_cli"], per_user=False)
    prs = record["pull_requests"]
    for name in PR_INT_FIELDS:
        assert isinstance(prs[name], int), name
    for name in PR_MEDIANS:
        assert prs.get(name) is None or isinstance(prs[name], float), name
    for element in prs["copilot_suggestions_by_comment_type"]:
        assert set(element) == {
            "comment_type",
            "total_copilot_suggestions",
            "total_copilot_applied_suggestions",
        }
    for phase in record["totals_by_ai_adoption_phase"]:
        assert {
            "phase",
            "phase_number",
            "total_engaged_users",
            "total_pull_requests_merged",
            *PHASE_FIELDS,
        } == set(phase)
        assert isinstance(phase["total_pull_requests_merged"], int)


def _without(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in names}


def _keyed(array: list[dict[str, Any]], dims: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, int]]:
    return {tuple(e[d] for d in dims): {k: v for k, v in e.items() if k in COUNTERS} for e in array}


@pytest.mark.parametrize(("scope", "scope_id", "report", "window"), REPORTS)
def test_every_report_type_has_the_documented_fields_and_types(
    scope: Scope, scope_id: str, report: Report, window: Window
) -> None:
    """Each of the 8 report types carries every documented field with the documented type."""
    rows = DS.report_rows(scope, scope_id, report, window, END_DAY)
    assert rows
    if report == "users":
        for row in rows:
            _check_user_row(row, scope, window)
        if window == "28d":
            assert {r["report_start_day"] for r in rows} == {"2026-02-05"}
            assert {r["report_end_day"] for r in rows} == {"2026-03-04"}
        return
    if window == "1d":
        assert len(rows) == 1
        _check_aggregate_day(rows[0], scope)
        assert {"etl_id", "day_partition", "entity_id_partition"} <= set(rows[0])
        return
    [wrapper] = rows
    assert wrapper["report_start_day"] == "2026-02-05"
    assert wrapper["report_end_day"] == "2026-03-04"
    assert isinstance(wrapper["created_at"], str)
    assert isinstance(wrapper["enterprise_id"], str)
    assert ("organization_id" in wrapper) == (scope == "org")
    assert [d["day"] for d in wrapper["day_totals"]] == [d.isoformat() for d in _days(END_DAY, 28)]
    for record in wrapper["day_totals"]:
        _check_aggregate_day(record, scope)


def test_nullable_and_optional_fields_take_both_forms_across_the_data() -> None:
    """Nullable fields are sometimes null, optional ones sometimes absent, so parsers see every form."""
    user_rows = DS.report_rows("enterprise", "megacorp", "users", "28d", END_DAY)
    review = Counter(type(r["used_copilot_code_review_active"]).__name__ for r in user_rows)
    assert review["NoneType"] > 0
    assert review["bool"] > 0
    assert any("totals_by_cli" in r for r in user_rows)
    assert any("totals_by_cli" not in r for r in user_rows)
    days = DS.report_rows("org", "beta", "aggregate", "28d", END_DAY)[0]["day_totals"]
    cloud = [d["daily_active_copilot_cloud_agent_users"] for d in days]
    assert None in cloud
    assert any(isinstance(c, int) for c in cloud)
    medians = [d["pull_requests"].get("median_minutes_to_merge", "absent") for d in days]
    assert "absent" in medians
    assert any(isinstance(m, float) for m in medians)
    null_or_absent = {
        "null" if d["pull_requests"].get(m, 0) is None else "absent"
        for d in days
        for m in PR_MEDIANS
        if d["pull_requests"].get(m) is None
    }
    assert null_or_absent == {"null", "absent"}
    assert any("daily_active_cli_users" not in d for d in days)
    assert any("daily_active_cli_users" in d for d in days)


def test_user_rows_carry_later_added_and_unknown_fields() -> None:
    """User rows include fields newer than the documented table, which parsers must ignore."""
    row = DS.report_rows("org", "acme", "users", "1d", END_DAY)[0]
    assert isinstance(row["ai_credits_used"], float)
    assert isinstance(row["totals_by_mcp"], list)
    assert "holo_pairing_minutes" in row


def test_same_seed_gives_identical_reports_and_another_seed_does_not() -> None:
    """The dataset is a pure function of its seed and membership."""
    twin = CopilotDataset(11, ORGS, "megacorp", FIRST_DAY)
    other = CopilotDataset(12, ORGS, "megacorp", FIRST_DAY)
    for report in ("users", "aggregate"):
        mine = json.dumps(DS.report_rows("org", "acme", report, "28d", END_DAY))
        assert mine == json.dumps(twin.report_rows("org", "acme", report, "28d", END_DAY))
        assert mine != json.dumps(other.report_rows("org", "acme", report, "28d", END_DAY))


def test_a_users_day_is_the_same_in_every_report_that_shows_it() -> None:
    """A user-day row is identical in org/enterprise and 1-day/28-day reports apart from scope fields."""
    day = END_DAY - timedelta(days=3)
    one_day = {r["user_login"]: r for r in DS.report_rows("org", "beta", "users", "1d", day)}
    window = DS.report_rows("org", "beta", "users", "28d", END_DAY)
    enterprise = {r["user_login"]: r for r in DS.report_rows("enterprise", "megacorp", "users", "1d", day)}
    assert one_day
    in_window = {r["user_login"]: r for r in window if r["day"] == day.isoformat()}
    assert in_window.keys() == one_day.keys()
    for login, row in one_day.items():
        windowed = _without(in_window[login], "report_start_day", "report_end_day", "day_partition")
        assert windowed == _without(row, "day_partition")
        scoped = ("organization_id", "entity_id_partition")
        assert _without(enterprise[login], *scoped) == _without(row, *scoped)


def test_28_day_users_report_is_one_row_per_user_per_day() -> None:
    """users-28-day holds exactly the union of the 28 users-1-day reports, one row per (user, day)."""
    window = DS.report_rows("org", "acme", "users", "28d", END_DAY)
    daily = [r for d in _days(END_DAY, 28) for r in DS.report_rows("org", "acme", "users", "1d", d)]
    assert len(window) == len(daily)
    assert len({(r["user_id"], r["day"]) for r in window}) == len(window)
    assert {(r["user_id"], r["day"]) for r in window} == {(r["user_id"], r["day"]) for r in daily}
    per_user = Counter(r["user_login"] for r in window)
    assert max(per_user.values()) > 1


@pytest.mark.parametrize(
    ("scope", "scope_id"),
    [pytest.param("org", "acme", id="org"), pytest.param("enterprise", "megacorp", id="ent")],
)
@pytest.mark.parametrize("offset", [0, 1, 4, 20])
def test_aggregate_counters_and_breakdowns_are_sums_of_user_rows(
    scope: Scope, scope_id: str, offset: int
) -> None:
    """Every aggregate counter and totals_by_* element is the exact sum over that day's user rows."""
    day = END_DAY - timedelta(days=offset)
    users = DS.report_rows(scope, scope_id, "users", "1d", day)
    [agg] = DS.report_rows(scope, scope_id, "aggregate", "1d", day)
    assert agg["daily_active_users"] == len(users)
    for counter in COUNTERS:
        assert agg[counter] == sum(r[counter] for r in users), counter
    for name, dims, _, _ in BREAKDOWNS:
        expected: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
        for row in users:
            for key, metrics in _keyed(row[name], dims).items():
                expected[key].update(metrics)
        assert _keyed(agg[name], dims) == {k: dict(v) for k, v in expected.items()}, name
    cli_rows = [r["totals_by_cli"] for r in users if "totals_by_cli" in r]
    assert agg.get("daily_active_cli_users", 0) == sum(r["used_cli"] for r in users)
    if cli_rows:
        for field in ("session_count", "request_count", "prompt_count"):
            assert agg["totals_by_cli"][field] == sum(c[field] for c in cli_rows)
    phases = {p["phase"]: p["total_engaged_users"] for p in agg["totals_by_ai_adoption_phase"]}
    assert phases == dict(Counter(r["ai_adoption_phase"]["phase"] for r in users))


def test_feature_breakdown_adds_up_to_the_totals_and_ide_leaves_out_cli() -> None:
    """totals_by_feature sums to the top-level counters; totals_by_ide excludes CLI-only activity."""
    rows = DS.report_rows("enterprise", "megacorp", "users", "28d", END_DAY)
    for row in rows:
        for counter in COUNTERS:
            assert sum(e[counter] for e in row["totals_by_feature"]) == row[counter]
            ide_sum = sum(e[counter] for e in row["totals_by_ide"])
            cli_sum = sum(e[counter] for e in row["totals_by_feature"] if e["feature"] == "copilot_cli")
            assert ide_sum == row[counter] - cli_sum
    assert any(r["used_cli"] and not r["totals_by_ide"] for r in rows), "no CLI-only day in the sample"


@pytest.mark.parametrize(
    ("scope", "scope_id"),
    [pytest.param("org", "beta", id="org"), pytest.param("enterprise", "megacorp", id="ent")],
)
def test_active_user_counts_are_distinct_over_trailing_windows(scope: Scope, scope_id: str) -> None:
    """Every day's active-user counts are distinct users over its trailing 1/7/28 days of user rows."""
    days = _days(END_DAY, 28 + 27)
    rows_by_day = {d: DS.report_rows(scope, scope_id, "users", "1d", d) for d in days}
    [wrapper] = DS.report_rows(scope, scope_id, "aggregate", "28d", END_DAY)
    periods = {"daily": 1, "weekly": 7, "monthly": 28}
    for index, record in enumerate(wrapper["day_totals"], start=27):
        trailing = days[: index + 1]

        def distinct(n: int, flag: str | None = None, trailing: list[date] = trailing) -> set[str]:
            return {r["user_login"] for d in trailing[-n:] for r in rows_by_day[d] if flag is None or r[flag]}

        for period, n in periods.items():
            assert record[f"{period}_active_users"] == len(distinct(n)), period
            active_review = distinct(n, "used_copilot_code_review_active")
            assert record[f"{period}_active_copilot_code_review_users"] == len(active_review), period
            passive = distinct(n, "used_copilot_code_review_passive") - active_review
            assert record[f"{period}_passive_copilot_code_review_users"] == len(passive), period
            cloud = record[f"{period}_active_copilot_cloud_agent_users"]
            assert cloud is None or cloud == len(distinct(n, "used_copilot_cloud_agent")), period
        assert record["monthly_active_chat_users"] == len(distinct(28, "used_chat"))
        assert record["monthly_active_agent_users"] == len(distinct(28, "used_agent"))
    newest = wrapper["day_totals"][-1]
    # Users active on several days count once: the monthly count is far below the sum of daily counts.
    assert newest["monthly_active_users"] < sum(d["daily_active_users"] for d in wrapper["day_totals"])


def test_a_user_active_on_three_days_counts_once_in_the_monthly_count() -> None:
    """A lone user shows several active days in the window but a monthly active count of one."""
    solo = CopilotDataset(3, {"solo": ["alice"]}, None, FIRST_DAY)
    active_days = [d for d in _days(END_DAY, 28) if solo.report_rows("org", "solo", "users", "1d", d)]
    assert len(active_days) >= 3
    [agg] = solo.report_rows("org", "solo", "aggregate", "1d", END_DAY)
    assert agg["monthly_active_users"] == 1
    assert agg["weekly_active_users"] == 1


def test_multi_org_user_counts_in_each_org_and_once_in_the_enterprise() -> None:
    """A member of two orgs appears in both orgs' reports and exactly once in the enterprise's."""
    hits = 0
    for day in _days(END_DAY, 7):
        acme = {r["user_login"] for r in DS.report_rows("org", "acme", "users", "1d", day)}
        beta = {r["user_login"] for r in DS.report_rows("org", "beta", "users", "1d", day)}
        ent = Counter(r["user_login"] for r in DS.report_rows("enterprise", "megacorp", "users", "1d", day))
        assert max(ent.values()) == 1
        assert set(ent) == acme | beta
        shared_active = set(SHARED) & acme
        assert shared_active == set(SHARED) & beta
        hits += len(shared_active)
        [ent_agg] = DS.report_rows("enterprise", "megacorp", "aggregate", "1d", day)
        [acme_agg] = DS.report_rows("org", "acme", "aggregate", "1d", day)
        [beta_agg] = DS.report_rows("org", "beta", "aggregate", "1d", day)
        dau = acme_agg["daily_active_users"] + beta_agg["daily_active_users"] - len(shared_active)
        assert ent_agg["daily_active_users"] == dau
        assert ent_agg["loc_added_sum"] <= acme_agg["loc_added_sum"] + beta_agg["loc_added_sum"]
    assert hits > 0


def test_weekdays_have_60_to_80_percent_of_members_active_and_weekends_fewer() -> None:
    """Activity looks like a working team: most members on weekdays, few on weekends."""
    team = CopilotDataset(5, {"big": [f"u{i}" for i in range(300)]}, None, FIRST_DAY)
    weekday = [d for d in _days(END_DAY, 14) if d.weekday() < 5]
    weekend = [d for d in _days(END_DAY, 14) if d.weekday() >= 5]
    flags = team.active_flags
    weekday_share = sum(len(flags(d)) for d in weekday) / (300 * len(weekday))
    weekend_share = sum(len(flags(d)) for d in weekend) / (300 * len(weekend))
    assert 0.6 <= weekday_share <= 0.8
    assert weekend_share < weekday_share / 2


def test_28_day_aggregate_is_one_wrapper_and_shorter_near_first_day() -> None:
    """The wrapper's day_totals match the 1-day records and skip days before the data starts."""
    [wrapper] = DS.report_rows("org", "acme", "aggregate", "28d", END_DAY)
    for record in wrapper["day_totals"][-3:]:
        [one] = DS.report_rows("org", "acme", "aggregate", "1d", date.fromisoformat(record["day"]))
        assert record == _without(one, "etl_id", "day_partition", "entity_id_partition")
    early_end = FIRST_DAY + timedelta(days=9)
    [early] = DS.report_rows("org", "acme", "aggregate", "28d", early_end)
    assert len(early["day_totals"]) == 10
    assert early["day_totals"][0]["day"] == FIRST_DAY.isoformat()
    assert early["report_start_day"] == (early_end - timedelta(days=27)).isoformat()
    assert DS.report_rows("org", "acme", "users", "1d", FIRST_DAY - timedelta(days=1)) == []


def test_availability_lags_two_days_and_starts_at_first_day() -> None:
    """Reports exist from first_day up to two days before today."""
    today = date(2026, 3, 10)
    assert DS.latest_complete_day(today) == date(2026, 3, 8)
    assert DS.available(date(2026, 3, 8), today)
    assert not DS.available(date(2026, 3, 9), today)
    assert DS.available(FIRST_DAY, today)
    assert not DS.available(FIRST_DAY - timedelta(days=1), today)


def test_one_day_reports_reach_back_one_year_only() -> None:
    """A day older than one year before today has no report, even when the data exists."""
    today = date(2027, 3, 10)
    assert DS.oldest_day(today) == date(2026, 3, 10)
    assert DS.available(date(2026, 3, 10), today)
    assert not DS.available(date(2026, 3, 9), today)


def test_unknown_scopes_are_rejected_and_org_names_ignore_case() -> None:
    """An org or enterprise outside the dataset raises UnknownScope; org lookups are case-insensitive."""
    with pytest.raises(UnknownScope):
        DS.report_rows("org", "nope", "users", "1d", END_DAY)
    with pytest.raises(UnknownScope):
        DS.report_rows("enterprise", "other", "users", "1d", END_DAY)
    with pytest.raises(UnknownScope):
        CopilotDataset(1, ORGS, None, FIRST_DAY).report_rows("enterprise", "megacorp", "users", "1d", END_DAY)
    assert DS.report_rows("org", "ACME", "users", "1d", END_DAY) == DS.report_rows(
        "org", "acme", "users", "1d", END_DAY
    )


def _additive(truth: dict[Any, float]) -> dict[Any, float]:
    return {k: v for k, v in truth.items() if k[0] not in NEWEST_DAY_FAMILIES}


def _with_window(key: Any, window: str) -> Any:
    name, labels = key
    return name, tuple((k, window if k == "window" else v) for k, v in labels)


@pytest.mark.parametrize(
    ("scope", "scope_id", "report"),
    [
        pytest.param("org", "acme", "aggregate", id="org-aggregate"),
        pytest.param("org", "beta", "users", id="org-users"),
        pytest.param("enterprise", "megacorp", "aggregate", id="ent-aggregate"),
        pytest.param("enterprise", "megacorp", "users", id="ent-users"),
    ],
)
@pytest.mark.parametrize("end_offset", [0, 9, 30])
def test_28_day_truth_is_the_sum_of_the_1_day_truths(
    scope: Scope, scope_id: str, report: Report, end_offset: int
) -> None:
    """For additive metrics, a 28-day report's truth equals the sum of its days' 1-day truths."""
    end = END_DAY - timedelta(days=end_offset)
    expected: dict[Any, float] = defaultdict(float)
    for day in _days(end, 28):
        for key, value in _additive(copilot_truth(DS, scope, scope_id, report, "1d", day)).items():
            expected[_with_window(key, "28d")] += value
    assert _additive(copilot_truth(DS, scope, scope_id, report, "28d", end)) == pytest.approx(dict(expected))


def test_aggregate_truth_gauges_come_from_the_newest_day_only() -> None:
    """Active-user gauges of a 28-day report are the newest day's values, never sums."""
    window = copilot_truth(DS, "org", "acme", "aggregate", "28d", END_DAY)
    newest = copilot_truth(DS, "org", "acme", "aggregate", "1d", END_DAY)
    for gauge in ACTIVE_USER_GAUGES:
        name = f"gh_copilot_usage_{gauge}"
        [(key, value)] = [(k, v) for k, v in window.items() if k[0] == name]
        assert value == newest[_with_window(key, "1d")]
    [wrapper] = DS.report_rows("org", "acme", "aggregate", "28d", END_DAY)
    labels = (("org", "acme"), ("repo", "*"), ("scope", "org"), ("user", "all"), ("window", "28d"))
    assert (
        window[("gh_copilot_usage_monthly_active_users", labels)]
        == wrapper["day_totals"][-1]["monthly_active_users"]
    )


def test_truth_labels_and_pr_metrics_follow_the_spec() -> None:
    """Labels are org/repo/user/scope/window; PR metrics come only from aggregates and only when asked."""
    agg = copilot_truth(DS, "enterprise", "megacorp", "aggregate", "28d", END_DAY)
    labels = (("org", "megacorp"), ("repo", "*"), ("scope", "enterprise"), ("user", "all"), ("window", "28d"))
    [wrapper] = DS.report_rows("enterprise", "megacorp", "aggregate", "28d", END_DAY)
    for field in PR_FIELDS:
        expected = sum(d["pull_requests"][field] for d in wrapper["day_totals"])
        assert agg[(f"gh_copilot_usage_pull_requests_{field}", labels)] == expected
    assert agg[("gh_copilot_usage_loc_added_sum", labels)] == sum(
        d["loc_added_sum"] for d in wrapper["day_totals"]
    )
    without_pr = copilot_truth(DS, "enterprise", "megacorp", "aggregate", "28d", END_DAY, include_pr=False)
    assert not any(name.startswith("gh_copilot_usage_pull_requests_") for name, _ in without_pr)
    users = copilot_truth(DS, "org", "acme", "users", "1d", END_DAY)
    assert not any("pull_requests" in name or "active_" in name or "phase" in name for name, _ in users)
    assert {dict(lbl)["scope"] for _, lbl in users} == {"users"}
    assert {dict(lbl)["user"] for _, lbl in users} == {
        r["user_login"] for r in DS.report_rows("org", "acme", "users", "1d", END_DAY)
    }


@pytest.mark.parametrize("window", ["1d", "28d"])
def test_user_modes_relabel_users_and_redaction_sums_to_the_aggregate(window: Window) -> None:
    """user_mode=id uses user ids; user_mode=none collapses users into one series equal to the aggregate (CLI too)."""
    by_id = copilot_truth(DS, "org", "acme", "users", window, END_DAY, user_mode="id")
    ids = {str(DS.user_ids[login]) for login in ACME}
    assert {dict(lbl)["user"] for _, lbl in by_id} <= ids
    redacted = copilot_truth(DS, "org", "acme", "users", window, END_DAY, user_mode="none")
    aggregate = copilot_truth(DS, "org", "acme", "aggregate", window, END_DAY)
    assert {dict(lbl)["user"] for _, lbl in redacted} == {"redacted"}
    for counter in (*COUNTERS, *(f"cli_{field}" for field in CLI_FIELDS)):
        name = f"gh_copilot_usage_{counter}"
        [red] = [v for (n, _), v in redacted.items() if n == name]
        [agg] = [v for (n, _), v in aggregate.items() if n == name]
        assert red == agg, counter


@pytest.mark.parametrize("dimension", ["ide", "feature", "language", "model"])
def test_breakdown_truth_sums_the_matching_array(dimension: Dimension) -> None:
    """Breakdown truth carries the dimension label and sums the matching totals_by_* array over the window."""
    truth = copilot_breakdown_truth(DS, "org", "acme", "aggregate", "28d", END_DAY, dimension=dimension)
    base = copilot_truth(DS, "org", "acme", "aggregate", "28d", END_DAY)
    per_metric: dict[str, float] = defaultdict(float)
    for (name, labels), value in truth.items():
        assert dimension in dict(labels)
        per_metric[name] += value
    assert ("gh_copilot_usage_user_initiated_interaction_count" in per_metric) == (dimension != "language")
    for name, total in per_metric.items():
        [(_, base_value)] = [(k, v) for k, v in base.items() if k[0] == name]
        if dimension == "feature":
            assert total == base_value, name
        else:
            assert total <= base_value, name
    assert len({dict(lbl)[dimension] for _, lbl in truth}) > 1


@pytest.mark.parametrize(("scope", "scope_id"), [("org", "acme"), ("enterprise", "megacorp")])
def test_cli_users_gauge_counts_the_newest_days_cli_users(scope: Scope, scope_id: str) -> None:
    """daily_active_cli_users of a window is the number of users with used_cli on its newest day (0 if none)."""
    for end in _days(END_DAY, 10):
        truth = copilot_truth(DS, scope, scope_id, "aggregate", "28d", end)
        [value] = [v for (name, _), v in truth.items() if name == "gh_copilot_usage_daily_active_cli_users"]
        rows = DS.report_rows(scope, scope_id, "users", "1d", end)
        assert value == sum(1 for row in rows if row["used_cli"]), end
