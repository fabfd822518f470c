"""Work units of sharded collection and their rendezvous assignment to live replicas."""

from __future__ import annotations

import pytest

from github_stats_exporter.leader.units import UnitKind, WorkUnit, assign, owner, plan_units

UNITS = plan_units(
    {f"org{i}": 4 for i in range(20)},
    copilot=["org/org0", "enterprise/big"],
    seats=["org/org0"],
    teams=["enterprise/big"],
    repositories=["enterprise/big"],
)


def test_a_configuration_becomes_one_unit_per_shard_and_scope() -> None:
    """Orgs contribute one unit per shard; each Copilot, seats, teams and repositories scope one more."""
    assert len(UNITS) == 20 * 4 + 5
    assert WorkUnit(UnitKind.REPOS, "org/org3", 2, 4).name == "repos:org/org3#2/4"
    assert WorkUnit(UnitKind.SEATS, "org/org0").name == "seats:org/org0"
    with pytest.raises(ValueError, match="at least one shard"):
        plan_units({"acme": 0})


def test_every_unit_has_exactly_one_owner_and_the_load_is_spread() -> None:
    """All units are assigned, none twice, and three members each get a fair share."""
    members = ["a", "b", "c"]
    held = assign(UNITS, members)
    assert sorted(u for mine in held.values() for u in mine) == sorted(UNITS)
    assert all(len(mine) > len(UNITS) // 6 for mine in held.values())


def test_a_join_moves_only_the_units_the_new_member_takes() -> None:
    """When a member joins, every unit that moves goes to it; the others stay where they were."""
    before = assign(UNITS, ["a", "b", "c"])
    after = assign(UNITS, ["a", "b", "c", "d"])
    for member in ("a", "b", "c"):
        assert after[member] <= before[member]
    assert after["d"] == frozenset().union(*(before[m] - after[m] for m in ("a", "b", "c")))


def test_a_leave_moves_only_the_units_the_leaver_held() -> None:
    """When a member leaves, the survivors keep their units and split the leaver's."""
    before = assign(UNITS, ["a", "b", "c"])
    after = assign(UNITS, ["a", "c"])
    assert before["a"] <= after["a"]
    assert before["c"] <= after["c"]
    assert (after["a"] - before["a"]) | (after["c"] - before["c"]) == before["b"]


def test_the_assignment_does_not_depend_on_the_order_of_members() -> None:
    """Every replica computes the same owner whatever order it lists the members in."""
    unit = UNITS[7]
    assert owner(unit, ["a", "b", "c"]) == owner(unit, ["c", "a", "b"])
    assert owner(unit, []) is None
