"""A fixed role for runs without leader election (one replica, or a role chosen by the environment).

It never talks to anything; with two replicas configured as leader both collect, so only use it when
that is intended.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

from github_stats_exporter.leader.identity import default_identity
from github_stats_exporter.metrics import LEADER_TRANSITIONS
from github_stats_exporter.selfmetrics import SelfMetrics

ROLE_ENV = "GITHUB_STATS_INITIAL_ROLE"


def role_from_environment(environ: Mapping[str, str] | None = None) -> bool:
    """The Go exporter's rule: GITHUB_STATS_INITIAL_ROLE=follower means follower, anything else leader."""
    env = os.environ if environ is None else environ
    return env.get(ROLE_ENV, "leader").strip().lower() != "follower"


class StaticElector:
    """Leader or follower for the life of the process; `run` reports the role once, then waits."""

    def __init__(self, leader: bool, *, identity: str = "", metrics: SelfMetrics | None = None) -> None:
        self._leader = leader
        self._identity = identity or default_identity()
        self._metrics = metrics
        self._transitions = 0

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def transitions(self) -> int:
        return self._transitions

    async def run(self, on_change: Callable[[bool], None]) -> None:
        if self._leader:
            self._transitions += 1
            if self._metrics is not None:
                self._metrics.inc(LEADER_TRANSITIONS)
        on_change(self._leader)
        await asyncio.Event().wait()

    async def release(self) -> None:
        """Nothing is held."""

    async def close(self) -> None:
        """Nothing is open."""
