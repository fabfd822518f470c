"""The rate-limit budget shared by the replicas of one installation through the store."""

from __future__ import annotations

import pytest

from github_stats_exporter.github.ratelimit import RateLimitBudget, RateLimitState, SharedBudget
from github_stats_exporter.store.base import StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.store.ratelimit_share import BudgetShare

NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """Records pauses; moves the shared clock only when ``advance`` (another replica's sleep must not)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.taken: list[float] = []
        self.advance = True

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)
        if self.advance:
            self.clock.now += seconds


class CountingExchange:
    """Counts trades and fails on demand, in front of a real memory store."""

    def __init__(self, store: MemorySnapshotStore) -> None:
        self.store = store
        self.trades = 0
        self.down = False

    async def share_rate_limit(self, scope: str, mine: BudgetShare, ttl_seconds: float) -> BudgetShare:
        self.trades += 1
        if self.down:
            msg = "redis: connection refused"
            raise StoreUnavailable(msg)
        return await self.store.share_rate_limit(scope, mine, ttl_seconds)


def replicas(count: int, clock: Clock, exchange: CountingExchange) -> list[tuple[RateLimitBudget, Sleeps]]:
    out = []
    for _ in range(count):
        sleeps = Sleeps(clock)
        shared = SharedBudget(exchange, "installation:7", interval=1.0)
        out.append((RateLimitBudget(sleep=sleeps, clock=clock, shared=shared), sleeps))
    return out


async def test_a_spent_budget_seen_by_one_replica_pauses_the_others() -> None:
    """When one replica learns the window is nearly spent, another replica with no reading pauses too."""
    clock = Clock()
    exchange = CountingExchange(MemorySnapshotStore(clock=clock))
    (first, first_sleeps), (second, sleeps) = replicas(2, clock, exchange)
    first_sleeps.advance = False
    first.update(RateLimitState(5000, 40, 4960, NOW + 600, "core"))
    assert await first.wait_for_budget() != ()

    pauses = await second.wait_for_budget()

    assert [p.reason for p in pauses] == ["primary_limit"]
    assert sleeps.taken == [pytest.approx(605.0)]


async def test_a_secondary_limit_pauses_every_replica() -> None:
    """A secondary-limit pause decided by one replica holds, from its next trade, for a replica that never hit it."""
    clock = Clock()
    exchange = CountingExchange(MemorySnapshotStore(clock=clock))
    (first, first_sleeps), (second, sleeps) = replicas(2, clock, exchange)
    first_sleeps.advance = False
    await second.wait_for_budget()  # traded once: nothing known yet
    first.block_until(NOW + 120, secondary=True)
    assert (await first.wait_for_budget())[0].reason == "secondary_limit"
    clock.now += 1.0  # the other replica trades again once its interval is over

    pauses = await second.wait_for_budget()

    assert [p.reason for p in pauses] == ["secondary_limit"]
    assert clock.now >= NOW + 120
    assert sleeps.taken


async def test_replicas_trade_at_most_once_per_interval_while_no_pause_is_near() -> None:
    """A replica with plenty of budget asks the store once per interval, not once per request."""
    clock = Clock()
    exchange = CountingExchange(MemorySnapshotStore(clock=clock))
    [(budget, _)] = replicas(1, clock, exchange)
    budget.update(RateLimitState(5000, 4000, 1000, NOW + 600, "core"))
    for _ in range(10):
        assert await budget.wait_for_budget() == ()
    clock.now += 1.0
    assert await budget.wait_for_budget() == ()
    assert exchange.trades == 2


async def test_an_older_shared_reading_never_hides_a_newer_local_one() -> None:
    """The merge keeps the lowest remaining of the window, whichever replica saw it."""
    clock = Clock()
    exchange = CountingExchange(MemorySnapshotStore(clock=clock))
    (first, _), (second, _) = replicas(2, clock, exchange)
    first.update(RateLimitState(5000, 3000, 2000, NOW + 600, "core"))
    await first.wait_for_budget()
    second.update(RateLimitState(5000, 2500, 2500, NOW + 600, "core"))
    await second.wait_for_budget()
    clock.now += 1.0
    await first.wait_for_budget()
    assert first.state() == RateLimitState(5000, 2500, 2500, NOW + 600, "core")


async def test_a_store_outage_leaves_the_local_budget_in_charge() -> None:
    """When the store cannot be reached the replica still pauses on what it saw itself, and does not fail."""
    clock = Clock()
    exchange = CountingExchange(MemorySnapshotStore(clock=clock))
    exchange.down = True
    [(budget, sleeps)] = replicas(1, clock, exchange)
    budget.update(RateLimitState(5000, 10, 4990, NOW + 60, "core"))

    pauses = await budget.wait_for_budget()

    assert [p.reason for p in pauses] == ["primary_limit"]
    assert sleeps.taken == [pytest.approx(65.0)]
