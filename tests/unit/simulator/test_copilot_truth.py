"""The Copilot ground truth on hand-written reports (values checked by hand) and its coverage of the contract."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from github_stats_exporter import metrics
from github_stats_exporter.simulator.copilot_data import COUNTERS, CopilotDataset, Report, Scope, Window
from github_stats_exporter.simulator.copilot_repos_truth import repos_truth
from github_stats_exporter.simulator.copilot_seats import SeatRoster
from github_stats_exporter.simulator.copilot_seats_truth import seats_truth
from github_stats_exporter.simulator.copilot_teams_truth import team_day_truth, teams_truth
from github_stats_exporter.simulator.copilot_truth import (
    COPILOT_FAMILIES,
    DIMENSIONS,
    Dimension,
    TruthKey,
    copilot_breakdown_truth,
    copilot_record_count,
    copilot_truth,
)
from github_stats_exporter.simulator.server import copilot_dataset, copilot_repo_activity
from github_stats_exporter.simulator.spec import demo_spec
from github_stats_exporter.simulator.world import World

D1, D2 = date(2026, 3, 3), date(2026, 3, 4)
CLI_NAMES = ("cli_session_count", "cli_request_count", "cli_prompt_count")
PR_NAMES = tuple(
    f"pull_requests_total_{f}"
    for f in (
        "created",
        "reviewed",
        "created_by_copilot",
        "reviewed_by_copilot",
        "merged",
        "merged_created_by_copilot",
    )
)
PR_2026 = ("pull_requests_total_merged_reviewed_by_copilot", "pull_requests_total_suggestions")
"""The hand data's 2026 PR fields (both 9 on each day)."""
TOKENS = ("cli_output_tokens_sum", "cli_prompt_tokens_sum")
GAUGE_NAMES = (
    "daily_active_users",
    "weekly_active_users",
    "monthly_active_users",
    "monthly_active_chat_users",
    "monthly_active_agent_users",
    "daily_active_cli_users",
)


def c7(*values: int) -> dict[str, int]:
    """The seven activity counters, in report order."""
    return dict(zip(COUNTERS, values, strict=True))


def c6(*values: int) -> dict[str, int]:
    """The six counters of a language array element (no user_initiated_interaction_count)."""
    return dict(zip(COUNTERS[1:], values, strict=True))


def prs(
    created: int, reviewed: int, by_copilot: int, reviewed_by: int, merged: int, merged_by: int
) -> dict[str, Any]:
    # Non-additive and unexported fields ride along: the truth must ignore them.
    return {
        "total_created": created,
        "total_reviewed": reviewed,
        "total_created_by_copilot": by_copilot,
        "total_reviewed_by_copilot": reviewed_by,
        "total_merged": merged,
        "total_merged_created_by_copilot": merged_by,
        "total_merged_reviewed_by_copilot": 9,
        "total_suggestions": 9,
        "median_minutes_to_merge": 42.5,
    }


def aggregate_day(day: date) -> dict[str, Any]:
    if day == D1:
        return {
            "day": D1.isoformat(),
            **c7(3, 10, 4, 20, 2, 8, 1),
            "daily_active_users": 2,
            "weekly_active_users": 2,
            "monthly_active_users": 2,
            "monthly_active_chat_users": 1,
            "monthly_active_agent_users": 0,
            "daily_active_cli_users": 1,
            "daily_active_copilot_app_users": 7,
            "totals_by_cli": {
                "session_count": 2,
                "request_count": 5,
                "prompt_count": 3,
                "token_usage": {
                    "output_tokens_sum": 100,
                    "prompt_tokens_sum": 50,
                    "avg_tokens_per_request": 30.0,
                },
            },
            "pull_requests": prs(2, 1, 1, 0, 1, 1),
            "totals_by_ide": [{"ide": "vscode", **c7(3, 10, 4, 20, 2, 8, 1)}],
            "totals_by_feature": [
                {"feature": "chat_panel_ask_mode", **c7(3, 4, 1, 8, 2, 3, 1)},
                {"feature": "code_completion", **c7(0, 6, 3, 12, 0, 5, 0)},
            ],
            "totals_by_language_feature": [
                {"language": "python", "feature": "chat_panel_ask_mode", **c6(4, 1, 8, 2, 3, 1)},
                {"language": "python", "feature": "code_completion", **c6(6, 3, 12, 0, 5, 0)},
            ],
            "totals_by_model_feature": [
                {"model": "gpt-5.4", "feature": "chat_panel_ask_mode", **c7(3, 4, 1, 8, 2, 3, 1)}
            ],
        }
    # D2: nobody used the CLI, so GitHub leaves out daily_active_cli_users and totals_by_cli.
    return {
        "day": D2.isoformat(),
        **c7(5, 7, 2, 9, 0, 30, 4),
        "daily_active_users": 1,
        "weekly_active_users": 2,
        "monthly_active_users": 3,
        "monthly_active_chat_users": 2,
        "monthly_active_agent_users": 1,
        "pull_requests": prs(1, 2, 0, 1, 0, 0),
        "totals_by_ide": [{"ide": "intellij", **c7(5, 7, 2, 9, 0, 30, 4)}],
        "totals_by_feature": [
            {"feature": "chat_panel_agent_mode", **c7(2, 3, 1, 9, 0, 10, 2)},
            {"feature": "agent_edit", **c7(0, 0, 0, 0, 0, 20, 2)},
            {"feature": "chat_panel_ask_mode", **c7(3, 4, 1, 0, 0, 0, 0)},
        ],
        "totals_by_language_feature": [
            {"language": "go", "feature": "agent_edit", **c6(0, 0, 0, 0, 20, 2)},
            {"language": "go", "feature": "chat_panel_agent_mode", **c6(3, 1, 9, 0, 10, 2)},
            {"language": "python", "feature": "chat_panel_ask_mode", **c6(4, 1, 0, 0, 0, 0)},
        ],
        "totals_by_model_feature": [
            {"model": "gpt-5.4", "feature": "chat_panel_ask_mode", **c7(3, 4, 1, 0, 0, 0, 0)},
            {"model": "claude", "feature": "chat_panel_agent_mode", **c7(2, 3, 1, 9, 0, 10, 2)},
            {"model": "claude", "feature": "agent_edit", **c7(0, 0, 0, 0, 0, 20, 2)},
        ],
    }


def user_rows(day: date) -> list[dict[str, Any]]:
    if day == D1:
        return [
            {
                "user_id": 101,
                "user_login": "ann",
                "day": D1.isoformat(),
                **c7(2, 6, 3, 12, 0, 5, 0),
                "used_cli": True,
                "totals_by_cli": {"session_count": 2, "request_count": 5, "prompt_count": 3},
            },
            {"user_id": 202, "user_login": "bob", "day": D1.isoformat(), **c7(1, 4, 1, 8, 2, 3, 1)},
        ]
    return [
        {
            "user_id": 202,
            "user_login": "bob",
            "day": D2.isoformat(),
            **c7(5, 7, 2, 9, 0, 30, 4),
            "totals_by_ide": [{"ide": "intellij", **c7(5, 7, 2, 9, 0, 30, 4)}],
        }
    ]


class HandDataset(CopilotDataset):
    """Two report days written by hand (the same for every scope), instead of generated ones."""

    def __init__(self) -> None:
        super().__init__(1, {"acme": ["ann", "bob"]}, "ent", D1)

    def report_rows(
        self, scope: Scope, scope_id: str, report: Report, window: Window, day: date
    ) -> list[dict[str, Any]]:
        days = [D1, D2] if window == "28d" else [day]
        if report == "users":
            return [row for d in days for row in user_rows(d)]
        if window == "1d":
            return [aggregate_day(day)]
        return [
            {
                "report_start_day": "2026-02-05",
                "report_end_day": D2.isoformat(),
                "day_totals": [aggregate_day(d) for d in days],
            }
        ]


HAND = HandDataset()


def series(names: tuple[str, ...], values: tuple[float, ...], **labels: str) -> dict[TruthKey, float]:
    base = {"org": "acme", "repo": "*", "user": "all", "scope": "org", "window": "28d", **labels}
    key = tuple(sorted(base.items()))
    return {(f"gh_copilot_usage_{n}", key): float(v) for n, v in zip(names, values, strict=True)}


def counters(values: tuple[int, ...], **labels: str) -> dict[TruthKey, float]:
    return series(COUNTERS, values, **labels)


def language(values: tuple[int, ...], **labels: str) -> dict[TruthKey, float]:
    return series(COUNTERS[1:], values, **labels)


def test_aggregate_28d_sums_every_additive_family_and_takes_gauges_from_the_newest_day() -> None:
    """28d aggregate: counters, CLI and the six PR fields summed over both days; gauges are D2's, CLI users 0."""
    expected = {
        **counters((8, 17, 6, 29, 2, 38, 5)),
        **series(CLI_NAMES, (2, 5, 3)),
        **series(PR_NAMES, (3, 3, 1, 1, 1, 1)),
        **series(PR_2026, (18, 18)),
        **series(TOKENS, (100, 50)),
        **series(GAUGE_NAMES, (1, 2, 3, 2, 1, 0)),
    }
    # The median is a newest-day value of the 1d view only; D2 has no app users field.
    assert copilot_truth(HAND, "org", "acme", "aggregate", "28d", D2) == expected


def test_aggregate_1d_is_that_days_values_with_cli_users_when_reported() -> None:
    """1d aggregate of D1: exactly D1's values, daily_active_cli_users as reported; enterprise scope label."""
    expected = {
        **counters((3, 10, 4, 20, 2, 8, 1), window="1d", org="ent", scope="enterprise"),
        **series(CLI_NAMES, (2, 5, 3), window="1d", org="ent", scope="enterprise"),
        **series(PR_NAMES, (2, 1, 1, 0, 1, 1), window="1d", org="ent", scope="enterprise"),
        **series(GAUGE_NAMES, (2, 2, 2, 1, 0, 1), window="1d", org="ent", scope="enterprise"),
        **series(PR_2026, (9, 9), window="1d", org="ent", scope="enterprise"),
        **series(TOKENS, (100, 50), window="1d", org="ent", scope="enterprise"),
        **series(
            ("daily_active_copilot_app_users", "pull_requests_median_minutes_to_merge"),
            (7, 42.5),
            window="1d",
            org="ent",
            scope="enterprise",
        ),
    }
    assert copilot_truth(HAND, "enterprise", "ent", "aggregate", "1d", D1) == expected


def test_without_pull_requests_only_the_pull_request_families_go() -> None:
    """include_pr=False removes the six pull_requests families and nothing else."""
    full = copilot_truth(HAND, "org", "acme", "aggregate", "28d", D2)
    without = copilot_truth(HAND, "org", "acme", "aggregate", "28d", D2, include_pr=False)
    assert without == {k: v for k, v in full.items() if "pull_requests" not in k[0]}
    assert len(full) - len(without) == len(PR_NAMES) + len(PR_2026)


def test_users_report_sums_per_user_with_cli_and_has_no_pull_requests_or_gauges() -> None:
    """Users 28d: one series set per login; CLI only for the user who used it; users scope label."""
    users = {"scope": "users"}
    expected = {
        **counters((2, 6, 3, 12, 0, 5, 0), user="ann", **users),
        **series(CLI_NAMES, (2, 5, 3), user="ann", **users),
        **counters((6, 11, 3, 17, 2, 33, 5), user="bob", **users),
    }
    assert copilot_truth(HAND, "org", "acme", "users", "28d", D2) == expected
    assert copilot_truth(HAND, "enterprise", "ent", "users", "1d", D2) == counters(
        (5, 7, 2, 9, 0, 30, 4), user="bob", scope="enterprise_users", org="ent", window="1d"
    )


@pytest.mark.parametrize(
    ("mode", "ann", "bob"),
    [
        pytest.param("login", "ann", "bob", id="login"),
        pytest.param("id", "101", "202", id="id"),
        # HMAC-SHA-256(key=b"k", login)[:16], computed once outside this code.
        pytest.param("hashed", "9266175ac0e5692d", "73662dcee4acad8d", id="hashed"),
    ],
)
def test_user_label_modes(mode: Any, ann: str, bob: str) -> None:
    """login, id and hashed modes only rename the user label."""
    truth = copilot_truth(HAND, "org", "acme", "users", "28d", D2, user_mode=mode, hash_key=b"k")
    assert {dict(labels)["user"] for _, labels in truth} == {ann, bob}
    name = "gh_copilot_usage_loc_added_sum"
    assert {dict(labels)["user"]: v for (n, labels), v in truth.items() if n == name} == {ann: 5.0, bob: 33.0}


def test_redacted_users_sum_into_one_series_set_equal_to_the_aggregate_counters() -> None:
    """user_mode none: every user summed into user="redacted"; equal to the aggregate's counters and CLI."""
    truth = copilot_truth(HAND, "org", "acme", "users", "28d", D2, user_mode="none")
    assert truth == {
        **counters((8, 17, 6, 29, 2, 38, 5), user="redacted", scope="users"),
        **series(CLI_NAMES, (2, 5, 3), user="redacted", scope="users"),
    }


def test_hashed_mode_needs_a_key() -> None:
    """Asking for hashed labels without a key is a caller error, not silently unhashed labels."""
    with pytest.raises(ValueError, match="hash_key"):
        copilot_truth(HAND, "org", "acme", "users", "1d", D1, user_mode="hashed")


def test_breakdowns_sum_their_arrays_and_feature_brings_chat_mode() -> None:
    """Each dimension sums its array over the window; language lacks interactions; chat_mode relabels chat panels."""
    assert copilot_breakdown_truth(HAND, "org", "acme", "aggregate", "28d", D2, dimension="ide") == {
        **counters((3, 10, 4, 20, 2, 8, 1), ide="vscode"),
        **counters((5, 7, 2, 9, 0, 30, 4), ide="intellij"),
    }
    feature = {
        **counters((6, 8, 2, 8, 2, 3, 1), feature="chat_panel_ask_mode"),
        **counters((0, 6, 3, 12, 0, 5, 0), feature="code_completion"),
        **counters((2, 3, 1, 9, 0, 10, 2), feature="chat_panel_agent_mode"),
        **counters((0, 0, 0, 0, 0, 20, 2), feature="agent_edit"),
    }
    chat_mode = {
        **counters((6, 8, 2, 8, 2, 3, 1), chat_mode="ask"),
        **counters((2, 3, 1, 9, 0, 10, 2), chat_mode="agent"),
    }
    lang = {
        **language((14, 5, 20, 2, 8, 1), language="python"),
        **language((3, 1, 9, 0, 30, 4), language="go"),
    }
    model = {
        **counters((6, 8, 2, 8, 2, 3, 1), model="gpt-5.4"),
        **counters((2, 3, 1, 9, 0, 30, 4), model="claude"),
    }
    breakdown = copilot_breakdown_truth
    assert breakdown(HAND, "org", "acme", "aggregate", "28d", D2, dimension="feature") == feature
    assert breakdown(HAND, "org", "acme", "aggregate", "28d", D2, dimension="chat_mode") == chat_mode
    assert breakdown(HAND, "org", "acme", "aggregate", "28d", D2, dimension="language") == lang
    assert breakdown(HAND, "org", "acme", "aggregate", "28d", D2, dimension="model") == model
    base = copilot_truth(HAND, "org", "acme", "aggregate", "28d", D2)
    assert copilot_truth(HAND, "org", "acme", "aggregate", "28d", D2, breakdowns=("feature", "language")) == {
        **base,
        **feature,
        **chat_mode,
        **lang,
    }


def test_user_breakdowns_carry_the_user_label() -> None:
    """Breakdown series of a users report are per user, like its plain series."""
    truth = copilot_breakdown_truth(HAND, "org", "acme", "users", "1d", D2, dimension="ide", user_mode="id")
    assert truth == counters((5, 7, 2, 9, 0, 30, 4), ide="intellij", user="202", scope="users", window="1d")


def test_day_labels_keep_each_day_apart_with_its_own_gauges() -> None:
    """emit_day: no sums across days; each day has its counters, PRs and gauges (CLI users 0 on D2)."""
    d1, d2 = {"day": D1.isoformat()}, {"day": D2.isoformat()}
    expected = {
        **counters((3, 10, 4, 20, 2, 8, 1), **d1),
        **series(CLI_NAMES, (2, 5, 3), **d1),
        **series(PR_NAMES, (2, 1, 1, 0, 1, 1), **d1),
        **series(GAUGE_NAMES, (2, 2, 2, 1, 0, 1), **d1),
        **series(PR_2026, (9, 9), **d1),
        **series(TOKENS, (100, 50), **d1),
        **series(("daily_active_copilot_app_users",), (7,), **d1),
        **counters((5, 7, 2, 9, 0, 30, 4), **d2),
        **series(PR_NAMES, (1, 2, 0, 1, 0, 0), **d2),
        **series(PR_2026, (9, 9), **d2),
        **series(GAUGE_NAMES, (1, 2, 3, 2, 1, 0), **d2),
        **counters((3, 10, 4, 20, 2, 8, 1), ide="vscode", **d1),
        **counters((5, 7, 2, 9, 0, 30, 4), ide="intellij", **d2),
    }
    ide: tuple[Dimension, ...] = ("ide",)
    assert (
        copilot_truth(HAND, "org", "acme", "aggregate", "28d", D2, emit_day=True, breakdowns=ide) == expected
    )


@pytest.mark.parametrize(
    ("report", "window", "expected"),
    [
        pytest.param("users", "28d", 3, id="users-28d"),
        pytest.param("users", "1d", 1, id="users-1d"),
        pytest.param("aggregate", "28d", 2, id="aggregate-28d-counts-days"),
        pytest.param("aggregate", "1d", 1, id="aggregate-1d"),
    ],
)
def test_record_count_counts_user_rows_and_aggregate_days(
    report: Report, window: Window, expected: int
) -> None:
    """Records parsed: one per user row, one per aggregate day (the 28-day wrapper itself is not one)."""
    assert copilot_record_count(HAND, "org", "acme", report, window, D2) == expected


def demo_world_truth() -> dict[TruthKey, float]:
    """Every report of the demo world, both windows, every breakdown on, and every scope's seats with users,
    teams and repositories."""
    start = 1_780_000_000.0
    world = World(demo_spec(start))
    dataset = copilot_dataset(world)
    repos = copilot_repo_activity(world, dataset)
    end = dataset.latest_complete_day(datetime.fromtimestamp(start, UTC).date())
    out: dict[TruthKey, float] = {}
    for scope, scope_id in (("org", "acme-corp"), ("org", "globex"), ("enterprise", "acme-enterprise")):
        for report in ("aggregate", "users"):
            for window in ("28d", "1d"):
                out.update(
                    copilot_truth(dataset, scope, scope_id, report, window, end, breakdowns=DIMENSIONS)  # type: ignore[arg-type]
                )
        out.update(seats_truth(SeatRoster(dataset, start), scope, scope_id, start, include_users=True))  # type: ignore[arg-type]
        out.update(teams_truth(dataset, scope, scope_id, end))  # type: ignore[arg-type]
        out.update(repos_truth(repos, scope, scope_id, end))  # type: ignore[arg-type]
    return out


def test_the_truth_produces_every_copilot_family_of_the_contract_in_the_demo_world() -> None:
    """Guard: a gh_copilot_* family added to metrics.py fails here until the truth (and so the e2e tests) cover it."""
    contract = {name for name in metrics.FAMILIES if name.startswith("gh_copilot_")}
    produced = {name for name, _ in demo_world_truth()}
    assert produced == contract, {
        "missing from the truth": contract - produced,
        "unknown": produced - contract,
    }
    assert set(COPILOT_FAMILIES) == contract


def test_repository_truth_adds_up_to_the_org_on_a_day_with_rows() -> None:
    """Every active user's pull requests go to one busy repository: on the newest day (which has rows) the
    repositories' 1d totals add up to the org aggregate's, and the 28d totals are at least the 1d ones."""
    start = 1_780_000_000.0
    world = World(demo_spec(start))
    dataset = copilot_dataset(world)
    repos = copilot_repo_activity(world, dataset)
    end = dataset.latest_complete_day(datetime.fromtimestamp(start, UTC).date())
    assert repos.rows("org", "acme-corp", end) is not None
    truth = repos_truth(repos, "org", "acme-corp", end)
    (aggregate,) = dataset.report_rows("org", "acme-corp", "aggregate", "1d", end)
    for field in ("total_created", "total_reviewed", "total_merged"):
        name = f"gh_copilot_usage_pull_requests_{field}"
        day = sum(v for (n, labels), v in truth.items() if n == name and dict(labels)["window"] == "1d")
        window = sum(v for (n, labels), v in truth.items() if n == name and dict(labels)["window"] == "28d")
        assert day == aggregate["pull_requests"][field]
        assert window >= day


def test_one_day_of_team_truth_is_the_newest_day_view_of_the_window_truth() -> None:
    """team_day_truth(day) holds exactly the window="1d" series of the 28-day truth ending on that day."""
    start = 1_780_000_000.0
    dataset = copilot_dataset(World(demo_spec(start)))
    end = dataset.latest_complete_day(datetime.fromtimestamp(start, UTC).date())
    window = teams_truth(dataset, "org", "acme-corp", end)
    newest = {key: value for key, value in window.items() if ("window", "1d") in key[1]}
    assert newest
    assert team_day_truth(dataset, "org", "acme-corp", end) == newest
