"""The rate-limit record replicas share per installation, and the one rule that merges two of them.

GitHub bills an installation, not a process: every replica calling it for the same installation draws
from one budget. Each replica hands its newest ``x-ratelimit-*`` reading per resource and its pause to
`RateLimitStore.share_rate_limit` and gets back the merge of everybody's, so a pause one replica
decided (a spent window, a secondary limit) holds for all (docs/scaling.md, "The shared budget").
This module holds values and the merge only; it sends nothing and knows no adapter. The Redis adapter
applies the same rule in Lua, and the contract suite checks that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BudgetReading:
    """One resource's budget as a response reported it; None means unknown, never 0."""

    resource: str
    limit: int | None
    remaining: int | None
    used: int | None
    reset_at: float | None


@dataclass(frozen=True, slots=True)
class BudgetShare:
    """An installation's readings (one per resource) and the pause every request of it takes."""

    readings: tuple[BudgetReading, ...] = ()
    blocked_until: float = 0.0
    blocked_secondary: bool = False

    def reading(self, resource: str) -> BudgetReading | None:
        return next((r for r in self.readings if r.resource == resource), None)


def newer_reading(old: BudgetReading | None, new: BudgetReading) -> BudgetReading:
    """The reading that describes the budget better: a later window wins; within one, the lower remaining.

    ``remaining`` only falls inside a window, so a larger value of the same window is an older answer;
    a reading without a reset time only replaces nothing.
    """
    if old is None:
        return new
    if new.reset_at is None:
        return old if old.reset_at is not None else new
    if old.reset_at is None or new.reset_at > old.reset_at:
        return new
    if new.reset_at < old.reset_at:
        return old
    if old.remaining is not None and (new.remaining is None or new.remaining > old.remaining):
        return old
    return new


def merge_shares(stored: BudgetShare, incoming: BudgetShare) -> BudgetShare:
    """The shared record after one replica reported ``incoming``: per resource the newer reading, the later pause."""
    readings = {r.resource: r for r in stored.readings}
    for reading in incoming.readings:
        readings[reading.resource] = newer_reading(readings.get(reading.resource), reading)
    if incoming.blocked_until > stored.blocked_until:
        until, secondary = incoming.blocked_until, incoming.blocked_secondary
    else:
        until, secondary = stored.blocked_until, stored.blocked_secondary
    ordered = tuple(readings[name] for name in sorted(readings))
    return BudgetShare(ordered, until, secondary)
