"""Request accounting for the simulator: responses per (route, status), the last answer per repository
route, budget use per org, downloads.

Counting only; it must not influence what a response contains.
"""

from __future__ import annotations

from collections import Counter


class RequestStats:
    """Counters a test or benchmark reads after driving the exporter against the simulator."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.last_answered: dict[tuple[str, str, str], float] = {}
        """(route, owner, repo) -> simulated time of the last answer to a repository route."""
        self._budget: Counter[str] = Counter()
        self.downloads = 0
        self.download_bytes = 0

    def record(self, route: str, status: int) -> None:
        self.requests[route, status] += 1

    def record_repo(self, route: str, owner: str, repo: str, now: float) -> None:
        self.last_answered[route, owner.lower(), repo.lower()] = now

    def record_budget(self, org: str) -> None:
        self._budget[org] += 1

    def record_download(self, size: int) -> None:
        self.downloads += 1
        self.download_bytes += size

    def rate_limited(self, org: str | None = None) -> int:
        """Requests that consumed primary rate-limit budget (all orgs, or the one named)."""
        if org is None:
            return sum(self._budget.values())
        return self._budget[org]

    def total(self, route: str | None = None) -> int:
        return sum(n for (r, _), n in self.requests.items() if route is None or r == route)

    def reset(self) -> None:
        self.requests.clear()
        self.last_answered.clear()
        self._budget.clear()
        self.downloads = 0
        self.download_bytes = 0
