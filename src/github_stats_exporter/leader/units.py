"""Work units of sharded collection and their assignment to live replicas by bounded-load rendezvous hashing.

In ``leader_election.mode: sharded`` (docs/scaling.md) collection is cut into units: each org's
repositories in ``shards`` buckets (`scrape.shard.RepoShard`), plus one unit per Copilot report scope,
per seats scope and per teams/repositories day-collector scope. Every replica computes the same
assignment from the same member list. Each ``(member, unit)`` pair has a hash; pairs are taken from
the highest hash down and a unit goes to the first member still under its share, the share being an
even split of that unit's kind (``q`` or ``q + 1`` of ``divmod(units of the kind, members)``).
Plain rendezvous (every unit to its top member) moves only the joiner's or leaver's units but leaves
the busiest replica well over its fair share at a few dozen units (60 units on 3: up to 30); the share
cap evens that out at the cost of a few extra moves per join or leave (measured in docs/scaling.md,
"Membership and assignment").
This module is pure: it holds no lease, talks to no store and starts nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class UnitKind(StrEnum):
    REPOS = "repos"
    """Activity and LOC of one shard of an org's repositories."""
    COPILOT = "copilot"
    """The Copilot 28-day reports of one scope (org or enterprise)."""
    SEATS = "seats"
    TEAMS = "copilot_teams"
    REPOSITORIES = "copilot_repos"


@dataclass(frozen=True, slots=True, order=True)
class WorkUnit:
    """One unit of collection; ``name`` is its identity in leases, fences and `/healthz`."""

    kind: UnitKind
    scope: str
    """``org/<login>`` or ``enterprise/<slug>``."""
    shard: int = 0
    shards: int = 1

    @property
    def name(self) -> str:
        suffix = f"#{self.shard}/{self.shards}" if self.kind is UnitKind.REPOS else ""
        return f"{self.kind.value}:{self.scope}{suffix}"


def plan_units(
    orgs: Mapping[str, int],
    *,
    copilot: Iterable[str] = (),
    seats: Iterable[str] = (),
    teams: Iterable[str] = (),
    repositories: Iterable[str] = (),
) -> tuple[WorkUnit, ...]:
    """Every unit of a configuration: ``orgs`` maps an org login to its shard count, the rest are scopes."""
    units: list[WorkUnit] = []
    for org, count in orgs.items():
        if count < 1:
            msg = f"org {org!r} needs at least one shard, got {count}"
            raise ValueError(msg)
        units += (WorkUnit(UnitKind.REPOS, f"org/{org}", i, count) for i in range(count))
    for kind, scopes in (
        (UnitKind.COPILOT, copilot),
        (UnitKind.SEATS, seats),
        (UnitKind.TEAMS, teams),
        (UnitKind.REPOSITORIES, repositories),
    ):
        units += (WorkUnit(kind, scope) for scope in scopes)
    return tuple(sorted(set(units)))


def _weight(member: str, unit: str) -> int:
    digest = hashlib.blake2b(f"{member}\0{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(unit: WorkUnit, members: Sequence[str]) -> str | None:
    """The member ranking first for ``unit`` alone (None when nobody is live); ties go to the lower name.

    This is where plain rendezvous puts the unit; `assign` starts from it and moves units off members
    over their share.
    """
    if not members:
        return None
    return max(sorted(set(members)), key=lambda member: _weight(member, unit.name))


def assign(units: Iterable[WorkUnit], members: Sequence[str]) -> dict[str, frozenset[WorkUnit]]:
    """Each live member's units (members without a unit map to an empty set), kinds split evenly."""
    live = sorted(set(members))
    held: dict[str, set[WorkUnit]] = {member: set() for member in members}
    if not live:
        return {member: frozenset() for member in members}
    by_kind: dict[UnitKind, list[WorkUnit]] = {}
    for unit in set(units):
        by_kind.setdefault(unit.kind, []).append(unit)
    for kind in sorted(by_kind):
        for unit, member in _split(by_kind[kind], live).items():
            held[member].add(unit)
    return {member: frozenset(mine) for member, mine in held.items()}


def _split(units: list[WorkUnit], members: list[str]) -> dict[WorkUnit, str]:
    """One kind's units over ``members``: highest pair hash first, every member within ``q`` or ``q + 1``."""
    share, extra = divmod(len(units), len(members))
    # Ties in the hash (never seen with 64 bits) fall back to names, so every replica sorts alike.
    pairs = sorted(
        ((_weight(member, unit.name), member, unit) for unit in units for member in members),
        key=lambda pair: (-pair[0], pair[1], pair[2]),
    )
    load = dict.fromkeys(members, 0)
    chosen: dict[WorkUnit, str] = {}
    at_top = 0  # members already holding share + 1; only ``extra`` of them may
    for _, member, unit in pairs:
        if unit in chosen:
            continue
        cap = share + 1 if at_top < extra else share
        if load[member] >= cap:
            continue
        chosen[unit] = member
        load[member] += 1
        if load[member] == share + 1:
            at_top += 1
        if len(chosen) == len(units):
            break
    return chosen
