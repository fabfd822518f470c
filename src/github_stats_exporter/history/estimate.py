"""How long a number of requests takes under an installation's primary rate limit (for ``--dry-run``).

Pure arithmetic over a `RateLimitState`: what fits in the remaining budget above the pause threshold
goes now; the rest waits for resets of the hourly budget. It must not send requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from github_stats_exporter.github.ratelimit import RateLimitState

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Estimate:
    """Requests of one installation and the budget waits they imply (None: the budget is unknown)."""

    requests: int
    remaining: int | None
    limit: int | None
    wait_seconds: float | None


def estimate(requests: int, state: RateLimitState | None, threshold: int, now: float) -> Estimate:
    """The waits before ``requests`` are sent, keeping ``threshold`` requests in reserve as the client does."""
    if state is None or state.limit is None or state.remaining is None:
        return Estimate(requests, None, None, None)
    now_budget = max(0, state.remaining - threshold)
    if requests <= now_budget:
        return Estimate(requests, state.remaining, state.limit, 0.0)
    per_hour = max(1, state.limit - threshold)
    until_reset = max(0.0, (state.reset_at or now) - now)
    hours = math.ceil((requests - now_budget) / per_hour) - 1
    return Estimate(requests, state.remaining, state.limit, until_reset + hours * HOUR)
