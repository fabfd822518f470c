"""Work units of sharded collection and their assignment to live replicas by rendezvous hashing.

In ``leader_election.mode: sharded`` (docs/scaling.md) collection is cut into units: each org's
repositories in ``shards`` buckets (`scrape.shard.RepoShard`), plus one unit per Copilot report scope,
per seats scope and per teams/repositories day-collector scope. Every replica computes the same
assignment from the same member list: a unit goes to the member with the highest hash of
``(member, unit)``, so a join or a leave moves only the units that member gains or held.
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
    """The live member that should hold ``unit`` (None when nobody is live); ties go to the lower name."""
    if not members:
        return None
    return max(sorted(set(members)), key=lambda member: _weight(member, unit.name))


def assign(units: Iterable[WorkUnit], members: Sequence[str]) -> dict[str, frozenset[WorkUnit]]:
    """Each live member's units (members without a unit map to an empty set)."""
    held: dict[str, set[WorkUnit]] = {member: set() for member in members}
    for unit in units:
        chosen = owner(unit, members)
        if chosen is not None:
            held[chosen].add(unit)
    return {member: frozenset(mine) for member, mine in held.items()}
