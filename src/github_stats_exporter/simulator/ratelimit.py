"""Primary rate-limit accounting per principal (an App installation or a personal token), resource ``core``.

A window of 3600 s starts at the first counted request, on the simulator's clock. It decides and
reports; it must not build HTTP responses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WINDOW_SECONDS = 3600.0


@dataclass(slots=True)
class _Window:
    started: float
    used: int = 0


@dataclass(frozen=True, slots=True)
class RateState:
    """What the ``x-ratelimit-*`` headers say after a request."""

    limit: int
    remaining: int
    used: int
    reset: int
    resource: str = "core"

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(self.reset),
            "x-ratelimit-resource": self.resource,
        }


class RateLimiter:
    """Per-principal budgets of ``limit`` requests per hour window."""

    def __init__(self, limit: int = 5000) -> None:
        self.limit = limit
        self._windows: dict[str, _Window] = {}

    def _window(self, principal: str, now: float) -> _Window:
        w = self._windows.get(principal)
        if w is None or now >= w.started + WINDOW_SECONDS:
            w = _Window(now)
            self._windows[principal] = w
        return w

    def peek(self, principal: str, now: float) -> RateState:
        """The current state without using budget (for 304s, /rate_limit and errors)."""
        w = self._windows.get(principal)
        if w is None or now >= w.started + WINDOW_SECONDS:
            return RateState(self.limit, self.limit, 0, math.ceil(now + WINDOW_SECONDS))
        return self._state(w)

    def exhausted(self, principal: str, now: float) -> bool:
        return self.peek(principal, now).remaining <= 0

    def consume(self, principal: str, now: float) -> RateState:
        w = self._window(principal, now)
        w.used += 1
        return self._state(w)

    def _state(self, w: _Window) -> RateState:
        return RateState(
            self.limit, max(self.limit - w.used, 0), w.used, math.ceil(w.started + WINDOW_SECONDS)
        )
