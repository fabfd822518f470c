"""GitHub reachability per installation: a free authenticated probe and failure/recovery streaks.

The probe calls ``GET /rate_limit`` (free for the primary limit, and it refreshes the rate-limit
gauges); collectors report their own outcomes into the same `InstallationHealth`. Health is kept per
installation, so one org with broken credentials never puts the others into cooldown. This module
does not schedule itself and does not touch the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.errors import GitHubError

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Streaks:
    healthy: bool = True
    failures: int = 0
    successes: int = 0
    cooldown_until: float = 0.0
    last_error: str = ""
    last_success: float | None = None


class InstallationHealth:
    """Failure/recovery streaks per org.

    An org turns unhealthy after ``failure_threshold`` consecutive failures and stays in cooldown
    for ``cooldown`` seconds; it recovers after ``recover_threshold`` consecutive successes.
    """

    def __init__(
        self,
        orgs: list[str],
        *,
        failure_threshold: int,
        recover_threshold: int,
        cooldown: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._state = {org: _Streaks() for org in orgs}
        self._failure_threshold = failure_threshold
        self._recover_threshold = recover_threshold
        self._cooldown = cooldown
        self._clock = clock

    def record(self, org: str, ok: bool, error: str = "") -> None:
        state = self._state[org]
        if ok:
            state.failures = 0
            state.successes += 1
            state.last_success = self._clock()
            if not state.healthy and state.successes >= self._recover_threshold:
                state.healthy = True
                state.cooldown_until = 0.0
                log.info("github_recovered", org=org)
            return
        state.successes = 0
        state.failures += 1
        state.last_error = error
        if state.failures >= self._failure_threshold:
            if state.healthy:
                log.warning("github_unhealthy", org=org, error=error)
            state.healthy = False
            state.cooldown_until = self._clock() + self._cooldown

    def healthy(self, org: str) -> bool:
        return self._state[org].healthy

    def in_cooldown(self, org: str) -> bool:
        return self._clock() < self._state[org].cooldown_until

    def summary(self) -> tuple[bool, str]:
        """(all orgs healthy, a one-line detail naming the unhealthy ones)."""
        bad = [f"{org}: {s.last_error or 'failing'}" for org, s in self._state.items() if not s.healthy]
        return not bad, "; ".join(bad)


class GitHubProbe:
    """One tick probes every installation's ``/rate_limit``."""

    def __init__(self, clients: Mapping[str, GitHubClient], tracker: InstallationHealth) -> None:
        self._clients = clients
        self._tracker = tracker

    async def tick(self) -> bool:
        all_ok = True
        for org, client in self._clients.items():
            try:
                await client.fetch_rate_limits()
            except GitHubError as exc:
                all_ok = False
                self._tracker.record(org, ok=False, error=f"{type(exc).__name__}: {exc}")
                log.warning("github_probe_failed", org=org, error=str(exc), error_type=type(exc).__name__)
            else:
                self._tracker.record(org, ok=True)
        return all_ok
