# mypy: allow-untyped-defs, allow-incomplete-defs
"""Rate-limit headers, Retry-After, limit classification and the pausing budget."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import pytest

from github_stats_exporter.github.errors import RateLimited
from github_stats_exporter.github.ratelimit import (
    LimitKind,
    RateLimitBudget,
    RateLimitState,
    classify_limit,
    parse_retry_after,
    resource_for,
)

NOW = 1_700_000_000.0


def state(
    remaining: int | None, reset_in: float, *, limit: int = 5000, resource: str = "core"
) -> RateLimitState:
    return RateLimitState(limit, remaining, None, NOW + reset_in, resource)


def budget_with(clock, sleeper, **kw) -> RateLimitBudget:
    return RateLimitBudget(sleep=sleeper, clock=clock, **kw)


def test_headers_parse_case_insensitively() -> None:
    """All five x-ratelimit headers are read whatever their case."""
    parsed = RateLimitState.from_headers(
        {
            "X-RateLimit-Limit": "5000",
            "x-ratelimit-remaining": "4990",
            "X-RATELIMIT-USED": "10",
            "X-Ratelimit-Reset": "1700003600",
            "x-ratelimit-resource": "core",
        }
    )

    assert parsed == RateLimitState(5000, 4990, 10, 1_700_003_600.0, "core")


def test_missing_headers_are_unknown_not_zero() -> None:
    """No headers → no state; partial headers → None fields, never 0."""
    assert RateLimitState.from_headers({"Content-Type": "application/json"}) is None
    partial = RateLimitState.from_headers({"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "oops"})
    assert partial is not None
    assert partial.remaining is None
    assert partial.reset_at is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("120", 120.0, id="delta-seconds"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param(formatdate(NOW + 30, usegmt=True), 30.0, id="http-date"),
        pytest.param(formatdate(NOW - 30, usegmt=True), 0.0, id="http-date-in-the-past"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param("-5", None, id="negative"),
    ],
)
def test_retry_after_accepts_both_forms(value: str, expected: float | None) -> None:
    """Retry-After is read as delta-seconds or as an HTTP-date relative to now."""
    assert parse_retry_after(value, NOW) == expected


SECONDARY_TEXT = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
ABUSE_TEXT = (
    "You have triggered an abuse detection mechanism. Please wait a few minutes before you try again."
)


@pytest.mark.parametrize(
    ("status", "headers", "message", "expected"),
    [
        pytest.param(403, {"x-ratelimit-remaining": "0"}, "", LimitKind.PRIMARY, id="403-remaining-0"),
        pytest.param(429, {"X-RateLimit-Remaining": "0"}, "", LimitKind.PRIMARY, id="429-remaining-0"),
        pytest.param(403, {"Retry-After": "60"}, "", LimitKind.SECONDARY, id="403-retry-after"),
        pytest.param(
            403, {"x-ratelimit-remaining": "4000"}, SECONDARY_TEXT, LimitKind.SECONDARY, id="secondary-text"
        ),
        pytest.param(403, {}, ABUSE_TEXT, LimitKind.SECONDARY, id="abuse-detection-text"),
        pytest.param(429, {}, "", LimitKind.SECONDARY, id="bare-429"),
        pytest.param(
            403, {}, "API rate limit exceeded for installation ID 42.", LimitKind.PRIMARY, id="primary-text"
        ),
        pytest.param(
            403,
            {"x-ratelimit-remaining": "4000"},
            "Resource not accessible by integration",
            None,
            id="permission",
        ),
        pytest.param(404, {"x-ratelimit-remaining": "0"}, "", None, id="not-a-limit-status"),
    ],
)
def test_classify_limit(status, headers, message, expected) -> None:
    """Rate limits are told apart from permission errors by headers and GitHub's documented messages."""
    assert classify_limit(status, headers, message) == expected


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        pytest.param("/search/issues", "search", id="search"),
        pytest.param("/api/graphql", "graphql", id="graphql"),
        pytest.param("/api/v3/repos/a/b/commits", "core", id="core"),
        pytest.param("/rate_limit", "rate_limit", id="rate-limit-endpoint-is-free"),
    ],
)
def test_resource_for_path(path: str, resource: str) -> None:
    """A request is billed to the resource its path belongs to."""
    assert resource_for(path) == resource


async def test_budget_above_threshold_does_not_pause(clock, sleeper) -> None:
    """Plenty of budget left → no sleep."""
    budget = budget_with(clock, sleeper)
    budget.update(state(101, 100))

    assert await budget.wait_for_budget() == ()
    assert sleeper.calls == []


async def test_budget_pauses_before_it_is_gone(clock, sleeper) -> None:
    """Remaining at the threshold with a future reset → sleep until reset + buffer."""
    budget = budget_with(clock, sleeper, min_remaining_threshold=100, min_reset_buffer=5.0)
    budget.update(state(100, 100))

    pauses = await budget.wait_for_budget()

    assert sleeper.calls == [105.0]
    assert [(p.reason, p.seconds) for p in pauses] == [("primary_limit", 105.0)]
    assert budget.state() is None  # the window reset: its budget is unknown until the next answer


@pytest.mark.parametrize(
    "st",
    [
        pytest.param(state(None, 100), id="remaining-unknown"),
        pytest.param(state(3, -1), id="reset-in-the-past"),
        pytest.param(RateLimitState(5000, 3, None, None, "core"), id="reset-unknown"),
    ],
)
async def test_budget_never_pauses_on_unknowns(clock, sleeper, st) -> None:
    """Unknown remaining or reset, or a reset already past, never causes a pause."""
    budget = budget_with(clock, sleeper)
    budget.update(st)

    assert await budget.wait_for_budget() == ()


async def test_budget_refuses_waits_longer_than_max_wait(clock, sleeper) -> None:
    """A needed pause beyond max_wait raises RateLimited with the retry time instead of sleeping."""
    budget = budget_with(clock, sleeper, max_wait=900.0, min_reset_buffer=5.0)
    budget.update(state(0, 1000))

    with pytest.raises(RateLimited) as caught:
        await budget.wait_for_budget()

    assert caught.value.retry_at == NOW + 1005
    assert not caught.value.secondary
    assert sleeper.calls == []


async def test_secondary_block_pauses_every_waiter(clock, sleeper) -> None:
    """A secondary-limit block is installation-wide: concurrent requests of any resource all pause."""
    budget = budget_with(clock, sleeper)
    budget.block_until(NOW + 60, secondary=True)

    results = await asyncio.gather(budget.wait_for_budget("core"), budget.wait_for_budget("search"))

    assert [[p.reason for p in pauses] for pauses in results] == [["secondary_limit"], ["secondary_limit"]]
    assert sleeper.calls == [60.0, 60.0]
    assert budget.blocked_until == 0.0


async def test_late_older_answer_does_not_raise_remaining(clock, sleeper) -> None:
    """Within one window remaining only falls; a newer window replaces the state."""
    budget = budget_with(clock, sleeper)
    budget.update(state(50, 100))
    merged = budget.update(state(60, 100))
    assert merged.remaining == 50
    assert budget.update(state(4999, 3700)).remaining == 4999


async def test_threshold_above_a_small_window_does_not_stall(clock, sleeper) -> None:
    """The search budget (30/min) does not pause at 20 left although the threshold is 100."""
    budget = budget_with(clock, sleeper, min_remaining_threshold=100)
    budget.update(state(20, 30, limit=30, resource="search"))

    assert await budget.wait_for_budget("search") == ()


async def test_budget_wait_is_cancellable() -> None:
    """Cancelling a caller that is paused for the budget ends the wait at once."""
    budget = RateLimitBudget(clock=time.time)  # real asyncio.sleep
    budget.update(RateLimitState(5000, 0, 5000, time.time() + 600, "core"))
    task = asyncio.create_task(budget.wait_for_budget())
    await asyncio.sleep(0.01)
    started = time.monotonic()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.5
