"""GitHub rate limits: header parsing, limit classification and the per-installation budget.

`RateLimitBudget` decides *before* a request whether to pause: when the known remaining budget of
a resource is at or below the threshold, or when a secondary limit blocked the whole installation.
Pauses use the injected (cancellable) sleep. With a `SharedBudget` the budget also trades its readings
and pause with the other replicas of the installation through the store before it decides (at most
once per ``interval``, at once when it is about to pause), so N replicas never spend N budgets
(docs/scaling.md, "The shared budget"). This module sends no requests to GitHub and records no
metrics; the client turns the returned `Pause` records into metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Protocol

import structlog
from multidict import CIMultiDict, CIMultiDictProxy

from github_stats_exporter.github.errors import RateLimited
from github_stats_exporter.store.base import StoreError
from github_stats_exporter.store.ratelimit_share import BudgetReading, BudgetShare, newer_reading

log = structlog.get_logger(__name__)

SECONDARY_LIMIT_MESSAGES = ("secondary rate limit", "abuse detection")
"""Lower-case fragments of GitHub's secondary-limit messages (current text and the older wording)."""
PRIMARY_LIMIT_MESSAGES = ("api rate limit exceeded",)
"""Lower-case fragment of the primary-limit message, for answers that lack the headers."""

Sleep = Callable[[float], Awaitable[object]]


class LimitKind(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that also works on plain dicts."""
    value = headers.get(name)
    if value is not None or isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return value  # a multidict's get is already case-insensitive: absent means absent
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


LIMIT_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-used",
    "x-ratelimit-reset",
    "x-ratelimit-resource",
)


def limit_headers(headers: Mapping[str, str]) -> tuple[str | None, ...]:
    """The raw ``x-ratelimit-*`` values in `LIMIT_HEADERS` order (None where absent)."""
    return tuple(header(headers, name) for name in LIMIT_HEADERS)


def _int_value(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """The budget of one resource as the newest response reported it; None means unknown, never 0."""

    limit: int | None
    remaining: int | None
    used: int | None
    reset_at: float | None
    resource: str | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitState | None:
        """Parse ``x-ratelimit-*``; None when the response carries none (e.g. GHES with limits off)."""
        return cls.from_values(limit_headers(headers))

    @classmethod
    def from_values(cls, values: tuple[str | None, ...]) -> RateLimitState | None:
        """Parse the raw values `limit_headers` returns (same rules as `from_headers`)."""
        limit, remaining, used, reset = (_int_value(raw) for raw in values[:4])
        resource = values[4]
        if limit is None and remaining is None and used is None and reset is None:
            return None
        return cls(
            limit=limit,
            remaining=remaining,
            used=used,
            reset_at=float(reset) if reset is not None else None,
            resource=resource.strip() if resource else None,
        )


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date; None if unreadable."""
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def classify_limit(status: int, headers: Mapping[str, str], body_message: str) -> LimitKind | None:
    """Tell a rate-limit answer from a permission error; None means "not a rate limit".

    Secondary when GitHub says so in the message, sends ``Retry-After`` or answers 429 without
    an exhausted primary budget; primary when ``x-ratelimit-remaining`` is 0. A 403 with neither
    is a permission problem.
    """
    if status not in (403, 429):
        return None
    message = body_message.lower()
    if any(fragment in message for fragment in SECONDARY_LIMIT_MESSAGES):
        return LimitKind.SECONDARY
    remaining = header(headers, "x-ratelimit-remaining")
    if remaining is not None and remaining.strip() == "0":
        return LimitKind.PRIMARY
    if header(headers, "retry-after") is not None or status == 429:
        return LimitKind.SECONDARY
    if any(fragment in message for fragment in PRIMARY_LIMIT_MESSAGES):
        return LimitKind.PRIMARY
    return None


def resource_for(path: str) -> str:
    """The rate-limit resource a request path is billed to (GitHub reports it in the answer too)."""
    if "/search/" in path or path.endswith("/search"):
        return "search"
    if path.endswith("/graphql"):
        return "graphql"
    if path.endswith("/rate_limit"):
        # Free for the primary limit, so a spent core budget must not hold it back.
        return "rate_limit"
    return "core"


class BudgetExchange(Protocol):
    """Where replicas trade an installation's budget (`store.base.RateLimitStore` is one)."""

    async def share_rate_limit(self, scope: str, mine: BudgetShare, ttl_seconds: float) -> BudgetShare: ...


@dataclass(frozen=True, slots=True)
class SharedBudget:
    """How a budget is shared: through which store, under which scope, how often at most."""

    exchange: BudgetExchange
    scope: str
    """``installation:<id>`` for an App installation, ``token:<org>`` for a token."""
    interval: float = 1.0
    """Seconds between two trades while no pause is near; a pause is traded at once."""
    ttl: float = 7200.0
    """A record nobody writes for this long is forgotten (two primary windows)."""


@dataclass(frozen=True, slots=True)
class Pause:
    """One wait the budget took: why, how long, and until when."""

    reason: str  # "primary_limit" or "secondary_limit"
    seconds: float
    until: float


class RateLimitBudget:
    """Rate-limit state of one installation: per-resource budgets plus a shared secondary block.

    Share one instance between every client of an installation so they all see the same budget.
    """

    def __init__(
        self,
        *,
        min_remaining_threshold: int = 100,
        min_reset_buffer: float = 5.0,
        max_wait: float = 900.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        shared: SharedBudget | None = None,
    ) -> None:
        self._shared = shared
        self._traded_at = -float("inf")
        self._trading = False
        self._threshold = min_remaining_threshold
        self._buffer = min_reset_buffer
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._states: dict[str, RateLimitState] = {}
        self._blocked_until = 0.0
        self._blocked_secondary = True

    @property
    def max_wait(self) -> float:
        return self._max_wait

    @property
    def blocked_until(self) -> float:
        """Unix time until which every request of this installation waits (0 when not blocked)."""
        return self._blocked_until

    def state(self, resource: str = "core") -> RateLimitState | None:
        return self._states.get(resource)

    def update(self, state: RateLimitState) -> RateLimitState:
        """Record a response's headers; returns the merged state of its resource."""
        resource = state.resource or "core"
        previous = self._states.get(resource)
        merged = state
        if (
            previous is not None
            and previous.reset_at == state.reset_at
            and previous.remaining is not None
            and state.remaining is not None
            and previous.remaining < state.remaining
        ):
            # Same window: remaining only falls, so a larger value is an older answer arriving late.
            merged = RateLimitState(state.limit, previous.remaining, previous.used, state.reset_at, resource)
        elif state.resource is None:
            merged = RateLimitState(state.limit, state.remaining, state.used, state.reset_at, resource)
        self._states[resource] = merged
        return merged

    def block_until(self, until: float, *, secondary: bool) -> None:
        """Pause every request of the installation until ``until`` (a secondary limit is shared)."""
        if until > self._blocked_until:
            self._blocked_until = until
            self._blocked_secondary = secondary

    def pending(self, resource: str = "core") -> Pause | None:
        """The pause a request for ``resource`` would take now, without taking it."""
        now = self._clock()
        pause: Pause | None = None
        if self._blocked_until > now:
            reason = "secondary_limit" if self._blocked_secondary else "primary_limit"
            pause = Pause(reason, self._blocked_until - now, self._blocked_until)
        state = self._states.get(resource)
        if (
            state is not None
            and state.remaining is not None
            and state.reset_at is not None
            and state.reset_at > now
            and state.remaining <= self._effective_threshold(state)
        ):
            until = state.reset_at + self._buffer
            if pause is None or until > pause.until:
                pause = Pause("primary_limit", until - now, until)
        return pause

    async def wait_for_budget(self, resource: str = "core") -> tuple[Pause, ...]:
        """Sleep until the budget allows a request; raises RateLimited if that is beyond ``max_wait``.

        Cancelling the caller cancels the sleep at once (the injected sleep must be cancellable).
        """
        taken: list[Pause] = []
        while (pause := await self._pending_shared(resource)) is not None:
            if pause.seconds > self._max_wait:
                raise RateLimited(pause.until, pause.reason == "secondary_limit", "wait exceeds max_wait")
            await self._sleep(pause.seconds)
            taken.append(pause)
            self._consume(resource, pause.until)
        return tuple(taken)

    async def _pending_shared(self, resource: str) -> Pause | None:
        """`pending` after trading with the other replicas when it is time (or a pause is near)."""
        pause = self.pending(resource)
        shared = self._shared
        if shared is None or self._trading:
            return pause
        now = self._clock()
        if pause is None and now - self._traded_at < shared.interval:
            return pause
        self._trading, self._traded_at = True, now
        try:
            merged = await shared.exchange.share_rate_limit(shared.scope, self._share(), shared.ttl)
        except StoreError as exc:
            # The local budget still protects this replica; the next request tries to trade again.
            log.warning("rate-limit budget not shared", scope=shared.scope, error=str(exc))
            return pause
        finally:
            self._trading = False
        self._adopt(merged)
        return self.pending(resource)

    def _share(self) -> BudgetShare:
        readings = tuple(
            BudgetReading(name, s.limit, s.remaining, s.used, s.reset_at)
            for name, s in sorted(self._states.items())
        )
        return BudgetShare(readings, self._blocked_until, self._blocked_secondary)

    def _adopt(self, merged: BudgetShare) -> None:
        now = self._clock()
        for reading in merged.readings:
            if reading.reset_at is not None and reading.reset_at + self._buffer <= now:
                continue  # a window that is over says nothing about the budget now
            state = self._states.get(reading.resource)
            mine = (
                None
                if state is None
                else BudgetReading(reading.resource, state.limit, state.remaining, state.used, state.reset_at)
            )
            best = newer_reading(mine, reading)
            if best is not mine:
                self._states[reading.resource] = RateLimitState(
                    best.limit, best.remaining, best.used, best.reset_at, best.resource
                )
        if merged.blocked_until > max(self._blocked_until, now):
            self._blocked_until, self._blocked_secondary = merged.blocked_until, merged.blocked_secondary

    def _consume(self, resource: str, until: float) -> None:
        # After waiting, what we waited for is over; a later block or a newer window still counts.
        if self._blocked_until <= until:
            self._blocked_until = 0.0
        state = self._states.get(resource)
        if state is not None and state.reset_at is not None and state.reset_at + self._buffer <= until:
            # The window has reset; its new budget is unknown until the next response says so.
            del self._states[resource]

    def _effective_threshold(self, state: RateLimitState) -> int:
        # A threshold at or above the whole window (search: 30/min) would pause forever; keep 10 %.
        if state.limit is not None and self._threshold >= state.limit:
            return state.limit // 10
        return self._threshold
