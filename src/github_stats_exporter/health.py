"""Dependency states and the live / ready / healthy verdicts the HTTP probes report.

Readiness means "this replica can serve `/metrics`": the page cache has rendered and every component
registered as required is healthy. Dependencies that only affect collection (the queue, GitHub) are
registered as not required, so their outage shows as ``degraded`` in `/healthz` without taking the
replica out of the Service. This module keeps state only; it never probes anything itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from github_stats_exporter.metrics import DEPENDENCY_HEALTH
from github_stats_exporter.telemetry import SelfMetrics

Role = Literal["starting", "leader", "follower"]
Mode = Literal["healthy", "degraded", "unhealthy"]
ROLES: tuple[Role, ...] = ("starting", "leader", "follower")
CACHE_COMPONENT = "exporter_cache"


@dataclass(slots=True)
class _Component:
    required_for_ready: bool
    healthy: bool = False
    detail: str = "not checked yet"
    last_success_unixtime: float | None = None
    last_failure_unixtime: float | None = None


class Health:
    """Named component states plus the process-wide flags (role, draining, fatal)."""

    def __init__(
        self,
        cache_ready: Callable[[], bool],
        self_metrics: SelfMetrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache_ready = cache_ready
        self._self_metrics = self_metrics
        self._clock = clock
        self._components: dict[str, _Component] = {}
        self._role: Role = "starting"
        self._draining = False
        self._fatal: str | None = None

    @property
    def role(self) -> Role:
        return self._role

    @role.setter
    def role(self, value: Role) -> None:
        if value not in ROLES:
            msg = f"role must be one of {ROLES}, got {value!r}"
            raise ValueError(msg)
        self._role = value

    def register(self, name: str, *, required_for_ready: bool) -> None:
        """Declare a component; it starts unhealthy until the first `set`."""
        if name == CACHE_COMPONENT:
            msg = f"{CACHE_COMPONENT!r} is reported by the exposition cache itself"
            raise ValueError(msg)
        self._components[name] = _Component(required_for_ready)
        self._export(name, healthy=False)

    def set(self, name: str, healthy: bool, detail: str = "") -> None:
        """Record a component's latest state; unknown names are a wiring bug and raise KeyError."""
        try:
            component = self._components[name]
        except KeyError:
            msg = f"health component {name!r} was never registered"
            raise KeyError(msg) from None
        component.healthy = healthy
        component.detail = detail
        if healthy:
            component.last_success_unixtime = self._clock()
        else:
            component.last_failure_unixtime = self._clock()
        self._export(name, healthy=healthy)

    def start_draining(self) -> None:
        """Report not-ready from now on so the load balancer stops sending scrapes before shutdown."""
        self._draining = True

    def set_fatal(self, reason: str) -> None:
        """Mark the process broken beyond repair; `/livez` fails so the orchestrator restarts it."""
        self._fatal = reason

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def live(self) -> bool:
        return self._fatal is None

    @property
    def ready(self) -> bool:
        cache_ready = self._cache_ready()
        self._export(CACHE_COMPONENT, healthy=cache_ready)
        if self._draining or not self.live or not cache_ready:
            return False
        return all(c.healthy for c in self._components.values() if c.required_for_ready)

    @property
    def mode(self) -> Mode:
        """``unhealthy`` when not ready, ``degraded`` when an optional component is down, else ``healthy``."""
        return self._mode(self.ready)

    def _mode(self, ready: bool) -> Mode:
        if not ready:
            return "unhealthy"
        if any(not c.healthy for c in self._components.values()):
            return "degraded"
        return "healthy"

    def snapshot(self) -> dict[str, Any]:
        """The `/healthz` document; ``components`` keeps the Go exporter's name → bool shape."""
        ready = self.ready
        cache_ready = self._cache_ready()
        components = {name: c.healthy for name, c in self._components.items()}
        components[CACHE_COMPONENT] = cache_ready
        details: dict[str, dict[str, Any]] = {
            name: {
                "healthy": c.healthy,
                "detail": c.detail,
                "last_success_unixtime": c.last_success_unixtime,
                "last_failure_unixtime": c.last_failure_unixtime,
                "required_for_ready": c.required_for_ready,
            }
            for name, c in self._components.items()
        }
        details[CACHE_COMPONENT] = {
            "healthy": cache_ready,
            "detail": "" if cache_ready else "no page rendered yet",
            "last_success_unixtime": None,
            "last_failure_unixtime": None,
            "required_for_ready": True,
        }
        return {
            "role": self._role,
            "mode": self._mode(ready),
            "ready": ready,
            "live": self.live,
            "draining": self._draining,
            "fatal_reason": self._fatal,
            "components": components,
            "details": details,
        }

    def _export(self, name: str, *, healthy: bool) -> None:
        if self._self_metrics is not None:
            self._self_metrics.set(DEPENDENCY_HEALTH, {"dependency": name}, 1.0 if healthy else 0.0)
