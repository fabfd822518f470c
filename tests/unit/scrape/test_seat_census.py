"""The seat census: activity buckets at their edges, editor names, tolerance, duplicates and user labels."""

from __future__ import annotations

from typing import Any

import pytest

from github_stats_exporter import metrics
from github_stats_exporter.scrape.copilot_map import LabelPolicy
from github_stats_exporter.scrape.seat_census import (
    MalformedSeatList,
    SeatCensus,
    activity_bucket,
    editor_label,
    parse_seat,
)

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z
H = 3600.0
D = 86400.0


def seat(
    login: str | None = "ann",
    uid: int = 1,
    last: str | None = "2026-05-28T10:00:00Z",
    editor: str | None = "vscode/1.99.0/copilot/1.250.0",
    plan: str | None = "business",
    **extra: Any,
) -> dict[str, Any]:
    assignee = None if login is None else {"login": login, "id": uid, "type": "User"}
    return {
        "created_at": "2026-01-01T00:00:00Z",
        "assignee": assignee,
        "last_activity_at": last,
        "last_activity_editor": editor,
        "plan_type": plan,
        "pending_cancellation_date": None,
        **extra,
    }


def values(census: SeatCensus) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, s.labels): s.value for s in census.samples()}


def series(census: SeatCensus, family: str, label: str) -> dict[str, float]:
    return {dict(s.labels)[label]: s.value for s in census.samples() if s.name == family}


@pytest.mark.parametrize(
    ("age", "bucket"),
    [
        pytest.param(-5 * 60.0, "1d", id="future-clock-skew"),
        pytest.param(0.0, "1d", id="now"),
        pytest.param(D - 1, "1d", id="just-under-24h"),
        pytest.param(D, "7d", id="exactly-24h"),
        pytest.param(7 * D - 1, "7d", id="just-under-7d"),
        pytest.param(7 * D, "28d", id="exactly-7d"),
        pytest.param(28 * D - 1, "28d", id="just-under-28d"),
        pytest.param(28 * D, "older", id="exactly-28d"),
        pytest.param(400 * D, "older", id="long-ago"),
    ],
)
def test_activity_buckets_are_exclusive_at_their_edges(age: float, bucket: str) -> None:
    """age = now - last_activity: 1d < 24 h <= 7d < 7 d <= 28d < 28 d <= older."""
    assert activity_bucket(NOW - age, NOW) == bucket


def test_no_activity_is_never() -> None:
    """A null last_activity_at is the `never` bucket."""
    assert activity_bucket(None, NOW) == "never"


@pytest.mark.parametrize(
    ("editor", "label"),
    [
        pytest.param("vscode/1.77.3/copilot/1.86.82", "vscode", id="documented-example"),
        pytest.param("JetBrains-IC/2025.3/copilot-intellij/1.5", "JetBrains-IC", id="jetbrains"),
        pytest.param("Neovim", "Neovim", id="no-slash"),
        pytest.param(None, "none", id="null"),
        pytest.param("", "none", id="empty"),
        pytest.param("/1.0", "none", id="empty-name"),
    ],
)
def test_editor_label_is_the_text_before_the_first_slash(editor: str | None, label: str) -> None:
    """The editor label is the name before the first '/', `none` when there is none."""
    assert editor_label(editor) == label


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param("seat", id="not-an-object"),
        pytest.param({"assignee": None}, id="no-created_at"),
        pytest.param(seat(last="yesterday"), id="bad-date"),
        pytest.param(seat(last=12345), id="number-date"),  # type: ignore[arg-type]
        pytest.param(seat(editor=7), id="number-editor"),  # type: ignore[arg-type]
        pytest.param({**seat(), "assignee": "ann"}, id="assignee-not-object"),
    ],
)
def test_malformed_seats_are_skipped_and_counted(obj: object) -> None:
    """A malformed seat object is not counted and shows up as a `malformed` drop."""
    assert parse_seat(obj) is None
    census = SeatCensus("acme", "org", NOW)
    census.add_page({"total_seats": 2, "seats": [obj, seat()]})
    assert census.seats == 1
    assert census.dropped == {"malformed": 1}


def test_a_page_without_a_seats_array_raises() -> None:
    """A page that is not a seat list cannot be counted: the collection fails rather than undercounts."""
    census = SeatCensus("acme", "org", NOW)
    with pytest.raises(MalformedSeatList):
        census.add_page({"total_seats": 3})
    with pytest.raises(MalformedSeatList):
        census.add_page([seat()])


def test_every_seat_counts_once_in_each_family_including_team_and_vanished_holders() -> None:
    """Buckets, editors and plans each sum to the seats; unknown fields are ignored."""
    census = SeatCensus("acme", "org", NOW)
    census.add_page(
        {
            "total_seats": 5,
            "seats": [
                seat("ann", 1, "2026-05-28T10:00:00Z", future_field={"x": 1}),
                seat("bob", 2, "2026-05-25T10:00:00-06:00", "JetBrains-IC/2025.3"),
                seat("cy", 3, None, None, "enterprise"),
                {**seat(None, 0, "2026-04-01T00:00:00Z", None), "assignee": {"slug": "pilots", "id": 9}},
                seat(None, 0, None, None, None),
            ],
        }
    )
    census.add_billing({"seat_breakdown": {"total": 5, "pending_invitation": None, "active_this_cycle": 3}})
    assert series(census, "gh_copilot_seats_by_last_activity", "since") == {
        "1d": 1,
        "7d": 1,
        "28d": 0,
        "older": 1,
        "never": 2,
    }
    assert series(census, "gh_copilot_seats_by_editor", "editor") == {
        "vscode": 1,
        "JetBrains-IC": 1,
        "none": 3,
    }
    assert series(census, "gh_copilot_seats_by_plan", "plan_type") == {"business": 3, "enterprise": 1}
    # A null breakdown field gives no series, not a zero.
    assert series(census, "gh_copilot_seats", "kind") == {"total": 5, "active_this_cycle": 3}
    assert census.dropped == {}


def test_labels_carry_org_and_scope() -> None:
    """Every sample has org and scope, and only the labels of its family."""
    census = SeatCensus("acme-enterprise", "enterprise", NOW, LabelPolicy("login"))
    census.add_page({"total_seats": 1, "seats": [seat()]})
    census.use_total_seats()
    for sample in census.samples():
        labels = dict(sample.labels)
        assert labels["org"] == "acme-enterprise"
        assert labels["scope"] == "enterprise"
        assert set(labels) == {*metrics.FAMILIES[sample.name].labels}
    assert series(census, "gh_copilot_seats", "kind") == {"total": 1}


def test_a_user_listed_twice_counts_once_with_the_newest_activity() -> None:
    """The enterprise listing repeats a user per grant: one seat, the newest activity, a `duplicate` drop."""
    census = SeatCensus("ent", "enterprise", NOW, LabelPolicy("login"))
    census.add_page(
        {
            "total_seats": 2,
            "seats": [
                seat("ann", 1, "2026-04-01T00:00:00Z", "Xcode/1"),
                seat("bob", 2, None, None),
            ],
        }
    )
    census.add_page({"total_seats": 2, "seats": [seat("ann", 1, "2026-05-28T20:00:00Z", "vscode/1")]})
    assert census.seats == 2
    assert census.dropped == {"duplicate": 1}
    assert series(census, "gh_copilot_seats_by_last_activity", "since")["1d"] == 1
    assert series(census, "gh_copilot_seats_by_editor", "editor") == {"vscode": 1, "none": 1}
    users = series(census, "gh_copilot_seat_last_activity_unixtime", "user")
    assert users == {"ann": 1_779_998_400.0}  # 2026-05-28T20:00:00Z; bob never used his seat


def test_an_older_duplicate_does_not_replace_the_newer_entry() -> None:
    """The first entry stays when a later one is older or equally old."""
    census = SeatCensus("ent", "enterprise", NOW, LabelPolicy("login"))
    census.add_page(
        {
            "seats": [
                seat("ann", 1, "2026-05-28T20:00:00Z"),
                seat("ann", 1, "2026-05-01T00:00:00Z"),
                seat("ann", 1, None),
            ]
        }
    )
    assert series(census, "gh_copilot_seat_last_activity_unixtime", "user") == {"ann": 1_779_998_400.0}
    assert census.dropped == {"duplicate": 2}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param(LabelPolicy("login"), {"ann", "bob"}, id="login"),
        pytest.param(LabelPolicy("id"), {"1", "2"}, id="id"),
        pytest.param(LabelPolicy("none"), {"redacted"}, id="none"),
        pytest.param(LabelPolicy("hashed", b"0123456789abcdef"), None, id="hashed"),
    ],
)
def test_per_user_series_follow_the_label_policy(policy: LabelPolicy, expected: set[str] | None) -> None:
    """gh_copilot_seat_last_activity_unixtime labels users like the usage series; `none` keeps the newest."""
    census = SeatCensus("acme", "org", NOW, policy)
    census.add_page(
        {"seats": [seat("ann", 1, "2026-05-20T00:00:00Z"), seat("bob", 2, "2026-05-28T20:00:00Z")]}
    )
    users = series(census, "gh_copilot_seat_last_activity_unixtime", "user")
    if expected is None:
        assert len(users) == 2
        assert all(len(u) == 16 and "ann" not in u for u in users)
    else:
        assert set(users) == expected
    assert max(users.values()) == 1_779_998_400.0


def test_without_a_user_policy_there_are_no_per_user_series() -> None:
    """include_seat_users off: no gh_copilot_seat_last_activity_unixtime at all."""
    census = SeatCensus("acme", "org", NOW)
    census.add_page({"seats": [seat()]})
    assert not series(census, "gh_copilot_seat_last_activity_unixtime", "user")


def test_equal_inputs_give_equal_sample_lists() -> None:
    """Samples come out in a stable order, so an unchanged census compares equal to the stored one."""
    page = {"seats": [seat("bob", 2, editor="Xcode/1"), seat("ann", 1)]}
    first, second = SeatCensus("acme", "org", NOW), SeatCensus("acme", "org", NOW)
    first.add_page(page)
    second.add_page(page)
    assert first.samples() == second.samples()
    assert values(first)
