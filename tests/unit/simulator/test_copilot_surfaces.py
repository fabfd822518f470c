"""The simulator's 2026 report fields: present in every form the fact sheet allows, consistent between
user rows and aggregates, and the whole-window shape of a 28-day users report."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from github_stats_exporter.simulator.copilot_data import COUNTERS, CopilotDataset
from github_stats_exporter.simulator.copilot_surfaces import DISTINCT_FIELDS

FIRST_DAY = date(2026, 7, 1)
END_DAY = date(2026, 9, 24)
MEMBERS = [f"dev{i:02d}" for i in range(40)]


def dataset(shape: Any = "per_day") -> CopilotDataset:
    return CopilotDataset(5, {"acme": MEMBERS}, "ent", FIRST_DAY, users_28d_shape=shape)


def days(ds: CopilotDataset) -> list[dict[str, Any]]:
    [wrapper] = ds.report_rows("org", "acme", "aggregate", "28d", END_DAY)
    return list(wrapper["day_totals"])


def test_aggregate_days_show_every_2026_field_present_null_and_absent() -> None:
    """Across the window each optional 2026 field of an aggregate day is sometimes set and sometimes null/absent."""
    window = days(dataset())
    forms: dict[str, Counter[str]] = {}
    for record in window:
        for name in (
            "daily_active_copilot_app_users",
            "totals_by_copilot_app",
            "daily_active_vscode_agent_users",
            "totals_by_vscode_agent",
            "totals_by_3rd_party_agent",
            *DISTINCT_FIELDS,
        ):
            form = "absent" if name not in record else "null" if record[name] is None else "set"
            forms.setdefault(name, Counter())[form] += 1
    for name, seen in forms.items():
        assert seen["set"] > 0, name
        assert seen["null"] + seen["absent"] > 0, name
    agents = {e["agent_name"] for r in window for e in r.get("totals_by_3rd_party_agent", [])}
    assert len(agents) > 1
    for record in window:
        for element in record.get("totals_by_3rd_party_agent", []):
            assert set(element) == {
                "agent_id",
                "agent_name",
                "user_initiated_interaction_count",
                "session_count",
            }
        for phase in record["totals_by_ai_adoption_phase"]:
            assert isinstance(phase["total_pull_requests_merged"], int)


def test_aggregates_are_the_sums_of_the_user_rows_of_that_day() -> None:
    """App, VS Code agent and agent job-start totals of a day equal the sums over that day's user rows."""
    ds = dataset()
    day = END_DAY - timedelta(days=3)
    [record] = ds.report_rows("org", "acme", "aggregate", "1d", day)
    rows = ds.report_rows("org", "acme", "users", "1d", day)
    apps = [r["totals_by_copilot_app"] for r in rows if "totals_by_copilot_app" in r]
    assert record["daily_active_copilot_app_users"] == (len(apps) or None)
    assert sum(r["used_copilot_app"] for r in rows) == len(apps)
    if apps:
        assert record["totals_by_copilot_app"]["request_count"] == sum(a["request_count"] for a in apps)
    vscode = [r["totals_by_vscode_agent"] for r in rows if "totals_by_vscode_agent" in r]
    assert record.get("daily_active_vscode_agent_users") == (len(vscode) or None)
    starts: Counter[str] = Counter()
    for row in rows:
        for element in row.get("totals_by_3rd_party_agent", []):
            assert "session_count" not in element  # per user GitHub sends no sessions
            starts[element["agent_name"]] += element["user_initiated_interaction_count"]
    assert {
        e["agent_name"]: e["user_initiated_interaction_count"]
        for e in record.get("totals_by_3rd_party_agent", [])
    } == dict(starts)


def test_whole_window_users_rows_are_one_per_user_and_sum_the_day_rows() -> None:
    """per_user shape: one row per user without `day`, its counters, credits and app totals the sums of the
    per-day rows; the window fields stay; a 1-day report is unaffected by the shape."""
    per_day = dataset().report_rows("org", "acme", "users", "28d", END_DAY)
    whole = dataset("per_user").report_rows("org", "acme", "users", "28d", END_DAY)
    assert [r["user_login"] for r in whole] == sorted({r["user_login"] for r in per_day})
    by_user: dict[str, list[dict[str, Any]]] = {}
    for row in per_day:
        by_user.setdefault(row["user_login"], []).append(row)
    for row in whole:
        assert "day" not in row
        assert row["report_end_day"] == END_DAY.isoformat()
        source = by_user[row["user_login"]]
        assert row["user_id"] == source[0]["user_id"]
        for counter in COUNTERS:
            assert row[counter] == sum(r[counter] for r in source), counter
        assert row["ai_credits_used"] == pytest.approx(sum(r["ai_credits_used"] for r in source))
        apps = [r["totals_by_copilot_app"]["session_count"] for r in source if "totals_by_copilot_app" in r]
        assert row.get("totals_by_copilot_app", {}).get("session_count", 0) == sum(apps)
        assert row["used_copilot_app"] == bool(apps)
        ides = {e["ide"]: e["loc_added_sum"] for e in row["totals_by_ide"]}
        expected: Counter[str] = Counter()
        for r in source:
            for element in r["totals_by_ide"]:
                expected[element["ide"]] += element["loc_added_sum"]
        assert ides == dict(expected)
    assert dataset("per_user").report_rows("org", "acme", "users", "1d", END_DAY) == dataset().report_rows(
        "org", "acme", "users", "1d", END_DAY
    )
