"""The simulated Copilot seat API (shapes, pagination, ETags, App tokens refused) and its ground truth."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from tests.unit.simulator.test_auth import app_jwt, exchange

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.copilot_data import CopilotDataset
from github_stats_exporter.simulator.copilot_seats import SeatRoster, stamp
from github_stats_exporter.simulator.copilot_seats_truth import (
    BUCKETS,
    activity_bucket,
    counted_seats,
    editor_name,
    seats_truth,
)
from github_stats_exporter.simulator.server import Simulator

NOW = 1_780_000_000.0
DAY = 86400.0
SEAT_KEYS = {
    "created_at",
    "updated_at",
    "pending_cancellation_date",
    "last_activity_at",
    "last_activity_editor",
    "last_authenticated_at",
    "plan_type",
    "assignee",
    "assigning_team",
}


def big_roster() -> SeatRoster:
    members = {
        "alpha": [f"user-{i}" for i in range(60)],
        "beta": [f"user-{i}" for i in range(40, 90)],
    }
    return SeatRoster(CopilotDataset(5, members, "ent", date(2026, 4, 1)), NOW)


def when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_org_seats_have_the_documented_shape_and_every_nullable_case() -> None:
    """Seat objects carry the documented keys; nulls, teams, vanished holders and every bucket occur."""
    roster = big_roster()
    seats = roster.org_seats("ALPHA")  # org names are case-insensitive
    assert all(set(s) >= SEAT_KEYS for s in seats)
    assert {activity_bucket(s["last_activity_at"], NOW) for s in seats} == set(BUCKETS)
    assert any(s["last_activity_at"] is not None and s["last_activity_editor"] is None for s in seats)
    assert any(s["assigning_team"] is not None for s in seats)
    assert any(s["pending_cancellation_date"] is not None for s in seats)
    assert any("+" in s["created_at"] or "-06:00" in s["created_at"] for s in seats)
    assert any("last_activity_surface" in s for s in seats)  # an unknown field
    holders = [s["assignee"] for s in seats]
    assert None in holders
    assert any(h is not None and "slug" in h and "login" not in h for h in holders)  # a team holds one
    assert {s["plan_type"] for s in seats} <= {"business", "enterprise", "unknown"}
    assert "organization" not in seats[0]


def test_billing_summary_matches_the_seat_list() -> None:
    """seat_breakdown agrees with the list: totals, cycle activity and pending cancellations."""
    roster = big_roster()
    seats = roster.org_seats("alpha")
    body = roster.billing("alpha")
    b = body["seat_breakdown"]
    assert b["total"] == len(seats)
    assert b["active_this_cycle"] + b["inactive_this_cycle"] == b["total"]
    assert b["pending_cancellation"] == sum(1 for s in seats if s["pending_cancellation_date"])
    cycle_start = datetime(2026, 5, 1, tzinfo=UTC).timestamp()
    assert b["active_this_cycle"] == sum(
        1 for s in seats if s["last_activity_at"] and when(s["last_activity_at"]) >= cycle_start
    )
    assert {"public_code_suggestions", "seat_management_setting", "ide_chat", "plan_type"} <= set(body)


def test_enterprise_listing_repeats_users_per_grant_and_counts_them_once() -> None:
    """One entry per granting org or enterprise team; total_seats counts each user once."""
    roster = big_roster()
    listing = roster.enterprise_seats("ent")
    users = [s["assignee"]["id"] for s in listing if s["assignee"] and s["assignee"].get("type") == "User"]
    assert len(users) > len(set(users))  # overlapping orgs and the enterprise team repeat users
    others = sum(1 for s in listing if not (s["assignee"] and s["assignee"].get("type") == "User"))
    assert roster.enterprise_total("ent") == len(set(users)) + others
    assert {s["organization"]["login"] for s in listing if s.get("organization")} == {"alpha", "beta"}
    assert any(s["assigning_team"] and s["assigning_team"]["slug"].startswith("ent:") for s in listing)
    assert len(counted_seats(listing)) == roster.enterprise_total("ent")


def test_revoke_and_touch_change_the_list() -> None:
    """Tests can take a seat away and record new activity."""
    roster = big_roster()
    login = roster.org_seats("alpha")[0]["assignee"]["login"]
    roster.touch("alpha", login, NOW - 60, "vscode/1.0")
    assert roster.org_seats("alpha")[0]["last_activity_at"] == stamp(NOW - 60)
    before = len(roster.org_seats("alpha"))
    roster.revoke("alpha", login)
    assert len(roster.org_seats("alpha")) == before - 1
    with pytest.raises(KeyError):
        roster.touch("alpha", login, NOW, None)


@pytest.mark.parametrize(
    ("age", "bucket"),
    [
        pytest.param(-60.0, "1d", id="future"),
        pytest.param(DAY - 1, "1d", id="under-24h"),
        pytest.param(DAY, "7d", id="24h"),
        pytest.param(7 * DAY - 1, "7d", id="under-7d"),
        pytest.param(7 * DAY, "28d", id="7d"),
        pytest.param(28 * DAY - 1, "28d", id="under-28d"),
        pytest.param(28 * DAY, "older", id="28d"),
    ],
)
def test_truth_buckets_at_their_edges(age: float, bucket: str) -> None:
    """The truth's buckets follow docs/metrics.md at the edges."""
    assert activity_bucket(stamp(NOW - age), NOW) == bucket
    assert activity_bucket(None, NOW) == "never"


def test_truth_editor_names() -> None:
    """Editor names are the text before the first slash, `none` for null."""
    assert editor_name("vscode/1.77.3/copilot/1.86.82") == "vscode"
    assert editor_name("Neovim") == "Neovim"
    assert editor_name(None) == "none"


def test_truth_sums_are_consistent() -> None:
    """Each family sums to the counted seats; the enterprise total is total_seats; users only when asked."""
    roster = big_roster()
    for scope, scope_id in (("org", "alpha"), ("enterprise", "ent")):
        truth = seats_truth(roster, scope, scope_id, NOW)  # type: ignore[arg-type]
        seats = len(
            counted_seats(roster.org_seats(scope_id) if scope == "org" else roster.enterprise_seats(scope_id))
        )
        for family in ("gh_copilot_seats_by_last_activity", "gh_copilot_seats_by_editor"):
            assert sum(v for (name, _), v in truth.items() if name == family) == seats
        assert not any(name == "gh_copilot_seat_last_activity_unixtime" for name, _ in truth)
        kinds = {dict(labels)["kind"] for name, labels in truth if name == "gh_copilot_seats"}
        assert kinds == (
            {
                "total",
                "added_this_cycle",
                "pending_invitation",
                "pending_cancellation",
                "active_this_cycle",
                "inactive_this_cycle",
            }
            if scope == "org"
            else {"total"}
        )
    with_users = seats_truth(roster, "org", "alpha", NOW, include_users=True, user_mode="id")
    users = {
        dict(labels)["user"]
        for name, labels in with_users
        if name == "gh_copilot_seat_last_activity_unixtime"
    }
    assert users
    assert all(u.isdigit() for u in users)


async def test_seat_list_pages_by_50_with_link_headers_and_etags(sim: Simulator, api: Any) -> None:
    """per_page defaults to 50 (max 100); pages carry Link headers and ETags; an unchanged page answers 304."""
    seats = sim.seats.org_seats("acme")
    while len(seats) < 120:  # enough seats for three pages of 50
        seats.append(dict(seats[len(seats) % 3], assignee=None))
    status, body, headers = await api.get("/orgs/acme/copilot/billing/seats")
    assert status == 200
    assert len(body["seats"]) == 50
    assert body["total_seats"] == len(seats)
    assert 'rel="next"' in headers["Link"]
    assert 'rel="last"' in headers["Link"]
    status, body, _ = await api.get("/orgs/acme/copilot/billing/seats?per_page=500&page=2")
    assert len(body["seats"]) == len(seats) - 100
    status, _, _ = await api.get("/orgs/acme/copilot/billing/seats", **{"If-None-Match": headers["ETag"]})
    assert status == 304
    sim.seats.revoke(
        "acme", next(s["assignee"]["login"] for s in seats if s["assignee"] and "login" in s["assignee"])
    )
    status, _, changed = await api.get(
        "/orgs/acme/copilot/billing/seats", **{"If-None-Match": headers["ETag"]}
    )
    assert status == 200
    assert changed["ETag"] != headers["ETag"]


async def test_billing_summary_and_access(sim: Simulator, api: Any) -> None:
    """The org billing summary answers for readable orgs only; there is no enterprise billing summary."""
    status, body, headers = await api.get("/orgs/acme/copilot/billing")
    assert status == 200
    assert body == sim.seats.billing("acme")
    assert "ETag" in headers
    assert (await api.get("/orgs/globex/copilot/billing"))[0] == 404  # the token cannot read globex
    assert (await api.get("/orgs/nope/copilot/billing/seats"))[0] == 404
    assert (await api.get("/enterprises/ent/copilot/billing"))[0] == 404
    status, body, _ = await api.get("/enterprises/ent/copilot/billing/seats")
    assert status == 200
    assert body["total_seats"] == sim.seats.enterprise_total("ent")


async def test_enterprise_seat_list_refuses_app_installation_tokens(
    sim: Simulator, api: Any, app_keys: tuple[str, str], clock: SimClock
) -> None:
    """GitHub Apps cannot read the enterprise seat list: 403, while the enterprise reports still work."""
    sim.add_app(13, app_keys[1])
    _, grant = await exchange(api, 23, app_jwt(app_keys[0], clock.now(), iss=13))
    status, body, _ = await api.get("/enterprises/ent/copilot/billing/seats", token=grant["token"])
    assert status == 403
    assert body["message"] == "Resource not accessible by integration"
    link = "/enterprises/ent/copilot/metrics/reports/enterprise-28-day/latest"
    assert (await api.get(link, token=grant["token"]))[0] == 200
