"""The one retry helper: attempt counting, full-jitter backoff and the retry self-metric.

Every loop that asks GitHub again (the API client, which also covers the installation-token exchange,
and the Copilot report download) walks its attempts through `Attempts`, so each retry waits the same
way and is counted once in ``gh_exporter_github_retries_total{org, endpoint, reason}``. Whether a
failure may be retried at all is not decided here: it is the error's ``transient`` attribute, set
where the error is raised (see `errors.py`). Sleep, randomness and the metrics sink are injected, so
tests drive time without waiting. This module knows no HTTP, no endpoints and no statuses.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from github_stats_exporter import metrics
from github_stats_exporter.errors import ExporterError
from github_stats_exporter.selfmetrics import CollectorMetrics

Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts an operation gets and how long to wait between them.

    Attempt ``n`` that failed waits uniformly in ``[0, min(max_backoff, initial_backoff * 2**(n-1))]``
    ("full jitter": concurrent clients that failed together do not retry together); without
    ``jitter`` the wait is the upper bound itself. A server's hint (``Retry-After`` on a 5xx) raises
    the wait, never above ``max_hint``.
    """

    attempts: int = 3
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    jitter: bool = True
    max_hint: float = 900.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            msg = f"attempts must be >= 1, got {self.attempts}"
            raise ValueError(msg)
        if self.initial_backoff < 0 or self.max_backoff < 0:
            msg = f"backoff must not be negative (got {self.initial_backoff}, {self.max_backoff})"
            raise ValueError(msg)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return rng.uniform(0.0, ceiling) if self.jitter else ceiling


class Retrier:
    """Hands out `Attempts` for one org's operations under one policy; owns the sleep, rng and counter."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        org: str,
        metrics: CollectorMetrics,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self._org = org
        self._metrics = metrics
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()

    def attempts(self, endpoint: str) -> Attempts:
        """A fresh attempt counter for one call of ``endpoint`` (the `endpoint` label of its retries)."""
        return Attempts(self, endpoint)

    def count(self, endpoint: str, reason: str) -> None:
        """Count one retry of ``endpoint`` for ``reason`` in the retry self-metric."""
        labels = {"org": self._org, "endpoint": endpoint, "reason": reason}
        self._metrics.inc(metrics.GITHUB_RETRIES, labels)

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)

    def delay(self, attempt: int) -> float:
        return self.policy.delay(attempt, self._rng)


class Attempts:
    """The attempts of one operation: which one is running, whether another is allowed, the pause before it.

    Typical use::

        attempts = retrier.attempts("list_commits")
        while True:
            try:
                return await once()
            except GitHubError as exc:
                if not await attempts.backoff(exc, "server_error"):
                    raise
    """

    def __init__(self, retrier: Retrier, endpoint: str) -> None:
        self._retrier = retrier
        self.endpoint = endpoint
        self.number = 1
        """The attempt now running (1-based)."""

    @property
    def last(self) -> bool:
        """True when the running attempt is the last one the policy allows."""
        return self.number >= self._retrier.policy.attempts

    async def backoff(self, error: ExporterError, reason: str, *, at_least: float | None = None) -> bool:
        """Wait before the next attempt and count the retry; False (and no wait) when there is none.

        There is no next attempt when ``error`` is not transient or this was the last attempt. The
        caller raises ``error`` then. ``at_least`` is a server's hint, capped at the policy's ``max_hint``.
        """
        if not error.transient or self.last:
            return False
        delay = self._retrier.delay(self.number)
        if at_least is not None:
            delay = min(max(delay, at_least), self._retrier.policy.max_hint)
        self.advance(reason)
        await self._retrier.sleep(delay)
        return True

    def advance(self, reason: str) -> None:
        """Count a retry and move to the next attempt without waiting here (the caller paces it)."""
        self._retrier.count(self.endpoint, reason)
        self.number += 1

    def again(self, reason: str) -> None:
        """Count a retry that does not use up an attempt (a token refresh after a 401 is free)."""
        self._retrier.count(self.endpoint, reason)
