"""Work units of sharded collection and their bounded-load rendezvous assignment to live replicas."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_every_unit_has_exactly_one_owner_and_each_kind_is_split_evenly() -> None:
    """All units are assigned, none twice, and every member holds q or q + 1 units of each kind."""
    for members in (["a", "b", "c"], ["a", "b"], [f"pod-{i}" for i in range(7)]):
        held = assign(UNITS, members)
        assert sorted(u for mine in held.values() for u in mine) == sorted(UNITS)
        for kind in UnitKind:
            total = sum(unit.kind is kind for unit in UNITS)
            counts = [sum(unit.kind is kind for unit in mine) for mine in held.values()]
            share, extra = divmod(total, len(members))
            assert sorted(counts) == [share] * (len(members) - extra) + [share + 1] * extra, kind


@settings(max_examples=60, deadline=None)
@given(
    names=st.sets(st.text(alphabet="abcdefgh0123456789-", min_size=1, max_size=12), min_size=1, max_size=6),
    units=st.integers(min_value=0, max_value=40),
)
def test_any_member_list_gets_an_even_split(names: set[str], units: int) -> None:
    """Whatever the member names and the unit count, loads differ by at most one and nothing is lost."""
    plan = plan_units({"acme": units}) if units else ()
    held = assign(plan, sorted(names))
    loads = [len(mine) for mine in held.values()]
    assert sum(loads) == len(plan)
    assert max(loads) - min(loads) <= 1
    assert held == assign(plan, sorted(names, reverse=True))


def _moves(before: dict[str, frozenset[WorkUnit]], after: dict[str, frozenset[WorkUnit]]) -> tuple[int, int]:
    """(units whose holder changed, the least a change of members must move: the joiners' or leavers' units)."""
    holder_before = {unit: member for member, mine in before.items() for unit in mine}
    holder_after = {unit: member for member, mine in after.items() for unit in mine}
    moved = sum(holder_before[unit] != holder_after[unit] for unit in holder_before)
    joined, left = set(after) - set(before), set(before) - set(after)
    needed = sum(len(after[m]) for m in joined) + sum(len(before[m]) for m in left)
    return moved, needed


def test_joins_and_leaves_move_few_units_beyond_the_joiners_and_leavers_own() -> None:
    """Over 100 member sets, a join or a leave moves its own share plus under 10 % more (docs/scaling.md)."""
    rng = random.Random(14)
    plan = plan_units({f"org{i}": 3 for i in range(20)})
    moved_total = needed_total = 0
    for _ in range(100):
        pods = [f"pod-{rng.randrange(10**9)}" for _ in range(4)]
        for before, after in ((pods[:3], pods), (pods[:3], pods[:2]), (pods[:2], pods[:3])):
            moved, needed = _moves(assign(plan, before), assign(plan, after))
            assert needed <= moved <= needed + len(plan) // 6
            moved_total += moved
            needed_total += needed
    assert moved_total <= needed_total * 1.10


def test_the_assignment_starts_from_plain_rendezvous() -> None:
    """A unit whose top-ranked member has room stays there: with one unit per member nothing is capped."""
    members = ["a", "b", "c"]
    for unit in UNITS:
        assert assign([unit], members)[owner(unit, members) or ""] == frozenset({unit})


def test_the_assignment_does_not_depend_on_the_order_of_members() -> None:
    """Every replica computes the same owner whatever order it lists the members in."""
    unit = UNITS[7]
    assert owner(unit, ["a", "b", "c"]) == owner(unit, ["c", "a", "b"])
    assert owner(unit, []) is None
    assert assign(UNITS, ["a", "b", "c"]) == assign(UNITS, ["c", "a", "b"])
    assert assign(UNITS, []) == {}
