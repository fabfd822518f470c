"""Dependency states and the live / ready / healthy verdicts the HTTP probes report.

Readiness means "this replica can serve `/metrics`": the page cache has rendered and every component
registered as required is healthy. Dependencies that only affect collection (the queue, GitHub) are
registered as not required, so their outage shows as ``degraded`` in `/healthz` without taking the
replica out of the Service.

Two kinds of component (docs/metrics.md, "Cluster state and per-process series"):

* process components (store, queue, GitHub probe): this process's own connections, reported as set;
* collection components (``activity:<org>``, ``loc:<org>``, the Copilot reports): set by the collectors
  on the leader, published through the store (`cluster_state`), and reported on every replica from
  that published view, so a follower shows the cluster's collection health instead of ``false`` for
  work it does not run.

Liveness fails when `set_fatal` was called or a watched loop stopped beating for longer than it is
allowed to (a wedged process is restarted by the orchestrator). This module keeps state only; it never
probes anything itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from github_stats_exporter.metrics import COLLECTION_HEALTH, DEPENDENCY_HEALTH, READY
from github_stats_exporter.model import Role
from github_stats_exporter.selfmetrics import SelfMetrics

Mode = Literal["healthy", "degraded", "unhealthy"]
CACHE_COMPONENT = "exporter_cache"


class HealthReport(Protocol):
    """How every collector reports the outcome of its work.

    ``component`` is the health component (``activity:<org>``, ``loc:<org>``, a Copilot report kind);
    ``member`` is the collector's part of it (an org, a report) when several collectors feed one
    component, ``""`` when the collector owns the whole component.
    """

    def report(self, component: str, member: str, healthy: bool, detail: str = "") -> None: ...


class ComponentStates(Protocol):
    """Where folded verdicts go (`Health.set`)."""

    def set(self, name: str, healthy: bool, detail: str = "") -> None: ...


class FoldedHealth:
    """The `HealthReport` on top of `Health`: a component is healthy when all of its members are.

    One instance is shared by every collector. A failing member's detail is prefixed with its name.
    In sharded collection a unit's collectors report through `UnitHealth`, so a member's verdict is
    known to belong to the unit it was measured on (`retain_units`).
    """

    def __init__(self, health: ComponentStates) -> None:
        self._health = health
        self._states: dict[str, dict[str, tuple[bool, str, str]]] = {}

    def clear(self) -> None:
        """Forget every member's verdict."""
        self._states.clear()

    def report(self, component: str, member: str, healthy: bool, detail: str = "", *, unit: str = "") -> None:
        """Record one member's verdict (measured on ``unit``, "" for none) and set the folded one."""
        members = self._states.setdefault(component, {})
        members[member] = (healthy, detail, unit)
        self._fold(component, members)

    def retain_units(self, held: Collection[str]) -> frozenset[str]:
        """Sharded mode: forget the verdicts measured on units not in ``held`` and those measured outside
        any unit; returns the components that still have a verdict (each set again when it changed)."""
        kept: set[str] = set()
        for component in list(self._states):
            members = self._states[component]
            remaining = {name: state for name, state in members.items() if state[2] and state[2] in held}
            if not remaining:
                del self._states[component]
                continue
            kept.add(component)
            if remaining != members:
                before = self._verdict(members)
                self._states[component] = remaining
                if self._verdict(remaining) != before:
                    self._fold(component, remaining)
        return frozenset(kept)

    @staticmethod
    def _verdict(members: Mapping[str, tuple[bool, str, str]]) -> tuple[bool, str]:
        failing = [
            f"{name}: {text}" if name else text for name, (ok, text, _) in sorted(members.items()) if not ok
        ]
        return not failing, "; ".join(failing)[:500]

    def _fold(self, component: str, members: Mapping[str, tuple[bool, str, str]]) -> None:
        healthy, detail = self._verdict(members)
        self._health.set(component, healthy, detail)


class UnitHealth:
    """`FoldedHealth` as one work unit's collectors report to it: every verdict is the unit's."""

    def __init__(self, folded: FoldedHealth, unit: str) -> None:
        self._folded = folded
        self._unit = unit

    def report(self, component: str, member: str, healthy: bool, detail: str = "") -> None:
        self._folded.report(component, member, healthy, detail, unit=self._unit)


@dataclass(slots=True)
class _Component:
    required_for_ready: bool
    collection: bool = False
    measured: bool = False
    """Set in this process (this leadership term for collection components); adoption never overrides it."""
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
        self._role = Role.STARTING
        self._draining = False
        self._fatal: str | None = None
        self._view: dict[str, dict[str, Any]] = {}
        self._view_meta: dict[str, Any] = {}
        self._watched: dict[str, float] = {}
        self._beats: dict[str, float] = {}

    @property
    def role(self) -> Role:
        return self._role

    @role.setter
    def role(self, value: Role) -> None:
        try:
            self._role = Role(value)
        except ValueError:
            msg = f"role must be one of {[r.value for r in Role]}, got {value!r}"
            raise ValueError(msg) from None

    def register(self, name: str, *, required_for_ready: bool, collection: bool = False) -> None:
        """Declare a component; it starts unhealthy until the first `set`.

        ``collection`` marks a component of the cluster's collection (see the module docstring).
        """
        if name == CACHE_COMPONENT:
            msg = f"{CACHE_COMPONENT!r} is reported by the exposition cache itself"
            raise ValueError(msg)
        self._components[name] = _Component(required_for_ready, collection)
        self._export(name, healthy=False)

    def require(self, name: str) -> None:
        """Make a registered component a condition of readiness (``health.readiness_requires``)."""
        try:
            self._components[name].required_for_ready = True
        except KeyError:
            msg = f"health component {name!r} was never registered"
            raise KeyError(msg) from None

    @property
    def names(self) -> frozenset[str]:
        """Every registered component, plus the page cache's."""
        return frozenset(self._components) | {CACHE_COMPONENT}

    def set(self, name: str, healthy: bool, detail: str = "") -> None:
        """Record a component's latest state; unknown names are a wiring bug and raise KeyError."""
        try:
            component = self._components[name]
        except KeyError:
            msg = f"health component {name!r} was never registered"
            raise KeyError(msg) from None
        component.healthy = healthy
        component.detail = detail
        component.measured = True
        if healthy:
            component.last_success_unixtime = self._clock()
        else:
            component.last_failure_unixtime = self._clock()
        self._export(name, healthy=healthy)

    # --- collection components: published by the leader, read back by every replica ----------------

    def collection_state(self, *, measured_only: bool = False) -> dict[str, dict[str, Any]]:
        """This process's collection components as set here (what the leader publishes).

        ``measured_only`` leaves out components nothing set in this process (sharded mode: a replica
        reports only on the units it collects)."""
        return {
            name: {
                "healthy": c.healthy,
                "detail": c.detail,
                "last_success_unixtime": c.last_success_unixtime,
                "last_failure_unixtime": c.last_failure_unixtime,
            }
            for name, c in self._components.items()
            if c.collection and (c.measured or not measured_only)
        }

    def clear_collection_state(self, *, keep: Collection[str] = ()) -> None:
        """A leadership term begins: collection verdicts of an earlier term are not this term's.

        ``keep`` (sharded mode, units lost): components still measured on the units this replica holds.
        """
        for name, component in self._components.items():
            if component.collection and name not in keep:
                self._components[name] = _Component(component.required_for_ready, collection=True)

    def adopt_collection_state(self, published: Mapping[str, Mapping[str, Any]]) -> None:
        """Take the published verdicts for components this term has not measured yet."""
        for name, state in published.items():
            component = self._components.get(name)
            if component is None or not component.collection or component.measured:
                continue
            component.healthy = bool(state.get("healthy", False))
            component.detail = str(state.get("detail", ""))
            component.last_success_unixtime = _optional_float(state.get("last_success_unixtime"))
            component.last_failure_unixtime = _optional_float(state.get("last_failure_unixtime"))
            self._export(name, healthy=component.healthy)

    def set_collection_view(
        self, published: Mapping[str, Mapping[str, Any]], meta: Mapping[str, Any] | None = None
    ) -> None:
        """Replace what the store says about collection (read on every replica at each page refresh)."""
        self._view = {name: dict(state) for name, state in published.items()}
        self._view_meta = dict(meta or {})

    def _collection_verdicts(self) -> dict[str, dict[str, Any]]:
        """Collection components as the cluster reports them; registered ones not published yet are down."""
        verdicts: dict[str, dict[str, Any]] = {
            name: {
                "healthy": False,
                "detail": "not published by a leader yet",
                "last_success_unixtime": None,
                "last_failure_unixtime": None,
            }
            for name, c in self._components.items()
            if c.collection
        }
        for name, state in self._view.items():
            verdicts[name] = {
                "healthy": bool(state.get("healthy", False)),
                "detail": str(state.get("detail", "")),
                "last_success_unixtime": _optional_float(state.get("last_success_unixtime")),
                "last_failure_unixtime": _optional_float(state.get("last_failure_unixtime")),
            }
        return verdicts

    # --- liveness -------------------------------------------------------------------------------

    def watch(self, loop: str, max_silence_seconds: float) -> None:
        """Expect ``loop`` to `beat` at least every ``max_silence_seconds`` (from now on)."""
        self._watched[loop] = max_silence_seconds
        self._beats[loop] = self._clock()

    def beat(self, loop: str) -> None:
        """``loop`` completed an iteration."""
        self._beats[loop] = self._clock()

    def _check_stalls(self) -> None:
        if self._fatal is not None:
            return
        now = self._clock()
        for loop, allowed in self._watched.items():
            silent = now - self._beats[loop]
            if silent > allowed:
                # Latched: a loop that wedged once is not trusted again; the orchestrator restarts us.
                self._fatal = (
                    f"loop {loop!r} has not completed an iteration for {silent:.0f}s (allowed {allowed:.0f}s)"
                )
                return

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
        self._check_stalls()
        return self._fatal is None

    @property
    def ready(self) -> bool:
        """The /readyz verdict; also exported as ``gh_exporter_ready`` for alerting."""
        cache_ready = self._cache_ready()
        self._export(CACHE_COMPONENT, healthy=cache_ready)
        verdict = not (self._draining or not self.live or not cache_ready) and self._required_healthy(
            self._collection_verdicts()
        )
        if self._self_metrics is not None:
            self._self_metrics.set(READY, None, 1.0 if verdict else 0.0)
        return verdict

    def _required_healthy(self, collection: Mapping[str, Mapping[str, Any]]) -> bool:
        for name, c in self._components.items():
            if not c.required_for_ready:
                continue
            healthy = collection[name]["healthy"] if c.collection else c.healthy
            if not healthy:
                return False
        return True

    @property
    def mode(self) -> Mode:
        """``unhealthy`` when not ready, ``degraded`` when an optional component is down, else ``healthy``."""
        return self._mode(self.ready)

    def _mode(self, ready: bool) -> Mode:
        if not ready:
            return "unhealthy"
        if any(not c.healthy for c in self._components.values() if not c.collection):
            return "degraded"
        if any(not state["healthy"] for state in self._collection_verdicts().values()):
            return "degraded"
        return "healthy"

    def snapshot(self) -> dict[str, Any]:
        """The `/healthz` document; ``components`` keeps the Go exporter's name → bool shape."""
        ready = self.ready
        cache_ready = self._cache_ready()
        details: dict[str, dict[str, Any]] = {
            name: {
                "healthy": c.healthy,
                "detail": c.detail,
                "last_success_unixtime": c.last_success_unixtime,
                "last_failure_unixtime": c.last_failure_unixtime,
                "required_for_ready": c.required_for_ready,
                "source": "process",
            }
            for name, c in self._components.items()
            if not c.collection
        }
        for name, state in self._collection_verdicts().items():
            registered = self._components.get(name)
            details[name] = {
                **state,
                "required_for_ready": registered is not None and registered.required_for_ready,
                "source": "cluster",
            }
        components = {name: bool(d["healthy"]) for name, d in details.items()}
        components[CACHE_COMPONENT] = cache_ready
        details[CACHE_COMPONENT] = {
            "healthy": cache_ready,
            "detail": "" if cache_ready else "no page rendered yet",
            "last_success_unixtime": None,
            "last_failure_unixtime": None,
            "required_for_ready": True,
            "source": "process",
        }
        return {
            "role": self._role.value,
            "mode": self._mode(ready),
            "ready": ready,
            "live": self.live,
            "draining": self._draining,
            "fatal_reason": self._fatal,
            "components": components,
            "details": details,
            "collection_published": self._view_meta,
        }

    def _export(self, name: str, *, healthy: bool) -> None:
        if self._self_metrics is None:
            return
        component = self._components.get(name)
        if component is not None and component.collection:
            self._self_metrics.set(COLLECTION_HEALTH, {"component": name}, 1.0 if healthy else 0.0)
        else:
            self._self_metrics.set(DEPENDENCY_HEALTH, {"dependency": name}, 1.0 if healthy else 0.0)


def _optional_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
