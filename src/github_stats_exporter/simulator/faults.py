"""Fault rules the simulator applies to matching requests: error statuses, rate limits, latency, hangs, bad bodies.

Rules only decide *which* fault hits a request (seeded, so runs repeat); the routes carry them out.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal[
    "status", "rate_limit_429", "secondary_403", "latency", "timeout", "truncate", "malformed", "expired_link"
]

ROUTE_NAMES = frozenset(
    {
        "list_org_repos",
        "list_installation_repos",
        "list_commits",
        "get_commit",
        "list_pulls",
        "list_reviews",
        "list_issue_comments",
        "contributor_stats",
        "rate_limit",
        "access_token",
        "copilot_report_link",
        "copilot_report_download",
        "copilot_billing",
        "copilot_billing_seats",
        "copilot_enterprise_billing_seats",
    }
)


@dataclass(slots=True)
class FaultRule:
    """One fault: where it applies (a route name, a path regex, or everywhere), what it does, how often.

    ``times`` limits the rule to its next N applications; ``probability`` draws from the seeded RNG.
    ``delay_s`` is the added latency (``latency``) or how long a ``timeout`` holds the request.
    """

    endpoint: str | None = None
    kind: FaultKind = "status"
    status: int = 500
    retry_after: str | None = None
    delay_s: float = 30.0
    probability: float = 1.0
    times: int | None = None
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.endpoint is not None and self.endpoint not in ROUTE_NAMES:
            self._pattern = re.compile(self.endpoint)
        if not 0.0 <= self.probability <= 1.0:
            msg = f"fault probability must be within [0, 1], got {self.probability}"
            raise ValueError(msg)

    def matches(self, route: str, path: str) -> bool:
        if self.endpoint is None:
            return True
        if self._pattern is None:
            return route == self.endpoint
        return self._pattern.search(path) is not None


class FaultInjector:
    """The active rules, checked in the order they were added; the first that fires wins."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(f"faults/{seed}")

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return tuple(self._rules)

    def add(self, rule: FaultRule) -> FaultRule:
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        self._rules.clear()

    def pick(self, route: str, path: str) -> FaultRule | None:
        """The fault to apply to this request, if any; uses up one of the rule's ``times``."""
        for rule in self._rules:
            if not rule.matches(route, path):
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self._rules.remove(rule)
            return rule
        return None
