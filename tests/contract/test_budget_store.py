"""Contract of the BudgetStore port, run against every adapter in ``STORE_PARAMS``."""

from __future__ import annotations

import asyncio

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.store.base import Store

TTL = 0.1
PAST_TTL = 0.15


async def test_concurrent_grants_never_exceed_the_cap_together(store: Store) -> None:
    """Forty grants at once of three units each book exactly the cap of fifty, no more."""
    grants = await asyncio.gather(*(store.take_budget("loc/acme/1", 3, 50, 30) for _ in range(40)))
    assert sum(grants) == 50
    assert sorted(grants, reverse=True)[:17] == [3] * 16 + [2]
    assert await store.budget_used("loc/acme/1") == 50
    assert await store.take_budget("loc/acme/1", 1, 50, 30) == 0


async def test_budgets_are_independent_by_name_and_a_raised_cap_grants_the_difference(store: Store) -> None:
    """Each name is its own budget; a grant books only what the cap leaves; nothing booked reads 0."""
    assert await store.budget_used("loc/acme/2") == 0
    assert await store.take_budget("loc/acme/2", 10, 4, 30) == 4
    assert await store.take_budget("loc/globex/2", 10, 4, 30) == 4
    assert await store.take_budget("loc/acme/2", 10, 6, 30) == 2
    assert await store.take_budget("loc/acme/2", 0, 100, 30) == 0
    assert await store.budget_used("loc/acme/2") == 6


async def test_a_budget_expires_after_its_ttl(store: Store, store_backend: StoreBackend) -> None:
    """A budget nobody draws from is gone once its TTL has passed after the last grant."""
    assert await store.take_budget("loc/acme/3", 5, 5, TTL) == 5
    await store_backend.elapse(PAST_TTL)
    assert await store.budget_used("loc/acme/3") == 0
    assert await store.take_budget("loc/acme/3", 5, 5, 30) == 5


@pytest.mark.parametrize("ttl", [pytest.param(0, id="zero"), pytest.param(-1.5, id="negative")])
async def test_non_positive_budget_ttls_are_rejected(store: Store, ttl: float) -> None:
    """A TTL of zero or less is a caller bug and raises ValueError instead of booking a budget that never lives."""
    with pytest.raises(ValueError, match="ttl"):
        await store.take_budget("loc/acme/4", 1, 5, ttl)
