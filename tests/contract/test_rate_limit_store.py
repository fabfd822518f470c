"""Contract of the RateLimitStore port, run against every adapter in ``STORE_PARAMS``."""

from __future__ import annotations

import pytest
from tests.support.store_backends import StoreBackend

from github_stats_exporter.store.base import Store
from github_stats_exporter.store.ratelimit_share import BudgetReading, BudgetShare

RESET = 1_700_003_600.0


def core(remaining: int | None, reset_at: float | None = RESET) -> BudgetReading:
    return BudgetReading("core", 5000, remaining, None if remaining is None else 5000 - remaining, reset_at)


async def test_the_first_report_is_the_shared_record(store: Store) -> None:
    """A scope nobody reported yet becomes exactly what the first replica reports, floats included."""
    mine = BudgetShare((core(4200, RESET + 0.5),), 1_700_000_123.25, True)
    assert await store.share_rate_limit("installation:1", mine, 60) == mine


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        pytest.param(core(4000), core(4500), core(4000), id="same-window-lower-remaining-wins"),
        pytest.param(core(4500), core(4000), core(4000), id="same-window-newer-spend-wins"),
        pytest.param(core(10), core(4999, RESET + 3600), core(4999, RESET + 3600), id="later-window-wins"),
        pytest.param(core(4999, RESET + 3600), core(10), core(4999, RESET + 3600), id="earlier-window-loses"),
        pytest.param(core(4000), core(3000, None), core(4000), id="no-reset-replaces-nothing"),
        pytest.param(core(4000), core(None), core(4000), id="unknown-remaining-is-older"),
    ],
)
async def test_readings_merge_to_the_newest_budget(
    store: Store, first: BudgetReading, second: BudgetReading, kept: BudgetReading
) -> None:
    """Of two readings of one resource the later window wins, and within a window the lower remaining."""
    await store.share_rate_limit("installation:1", BudgetShare((first,)), 60)
    merged = await store.share_rate_limit("installation:1", BudgetShare((second,)), 60)
    assert merged.readings == (kept,)


async def test_resources_and_scopes_are_independent(store: Store) -> None:
    """Each resource keeps its own reading, and another installation's record is untouched."""
    search = BudgetReading("search", 30, 2, 28, RESET - 3000)
    await store.share_rate_limit("installation:1", BudgetShare((core(4000),)), 60)
    merged = await store.share_rate_limit("installation:1", BudgetShare((search,)), 60)
    assert merged.readings == (core(4000), search)
    assert await store.share_rate_limit("installation:2", BudgetShare(), 60) == BudgetShare()


async def test_the_later_pause_wins(store: Store) -> None:
    """A pause reported by one replica holds for all; an earlier one does not shorten it."""
    await store.share_rate_limit("installation:1", BudgetShare((), 200.0, True), 60)
    merged = await store.share_rate_limit("installation:1", BudgetShare((), 100.0, False), 60)
    assert (merged.blocked_until, merged.blocked_secondary) == (200.0, True)
    later = await store.share_rate_limit("installation:1", BudgetShare((), 300.0, False), 60)
    assert (later.blocked_until, later.blocked_secondary) == (300.0, False)


async def test_a_record_nobody_reports_expires(store: Store, store_backend: StoreBackend) -> None:
    """A shared budget not written within its TTL is forgotten."""
    await store.share_rate_limit("installation:1", BudgetShare((core(10),), 50.0, True), 0.1)
    await store_backend.elapse(0.15)
    assert await store.share_rate_limit("installation:1", BudgetShare(), 60) == BudgetShare()
