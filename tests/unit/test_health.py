"""Health: component states, readiness rules, modes, the /healthz document and the dependency gauges."""

from __future__ import annotations

import json

import pytest

from github_stats_exporter.health import FoldedHealth, Health
from github_stats_exporter.metrics import DEPENDENCY_HEALTH, READY
from github_stats_exporter.model import Role
from github_stats_exporter.selfmetrics import SelfMetrics


class Flag:
    def __init__(self, value: bool = True) -> None:
        self.value = value

    def __call__(self) -> bool:
        return self.value


def make_health(cache_ready: bool = True) -> tuple[Health, Flag, SelfMetrics, list[float]]:
    now = [100.0]
    flag = Flag(cache_ready)
    metrics = SelfMetrics()
    health = Health(flag, metrics, clock=lambda: now[0])
    health.register("redis", required_for_ready=True)
    health.register("amqp", required_for_ready=False)
    return health, flag, metrics, now


def test_components_start_unhealthy_so_a_fresh_process_is_not_ready() -> None:
    """Before any component reports, a required dependency counts as down."""
    health, *_ = make_health()
    assert not health.ready
    assert health.mode == "unhealthy"
    assert health.live


def test_ready_needs_cache_and_required_components_only() -> None:
    """Readiness follows the cache and required components; an optional outage only degrades."""
    health, flag, _, _ = make_health()
    health.set("redis", True)
    health.set("amqp", False, "connection refused")
    verdicts = [(health.ready, health.mode)]
    health.set("amqp", True)
    verdicts.append((health.ready, health.mode))
    flag.value = False
    verdicts.append((health.ready, health.mode))
    assert verdicts == [(True, "degraded"), (True, "healthy"), (False, "unhealthy")]


def test_required_component_failure_makes_the_replica_unready() -> None:
    """A required dependency going down removes the replica from service."""
    health, *_ = make_health()
    health.set("redis", True)
    health.set("amqp", True)
    health.set("redis", False, "timeout")
    assert not health.ready


def test_draining_turns_readiness_off_but_not_liveness() -> None:
    """During shutdown the replica reports not ready while staying live."""
    health, *_ = make_health()
    health.set("redis", True)
    health.start_draining()
    assert (health.ready, health.live, health.draining) == (False, True, True)


def test_fatal_turns_liveness_off() -> None:
    """set_fatal makes the process not live (and therefore not ready)."""
    health, *_ = make_health()
    health.set("redis", True)
    health.set_fatal("event loop wedged")
    assert not health.live
    assert not health.ready
    assert health.snapshot()["fatal_reason"] == "event loop wedged"


def test_set_records_success_and_failure_times() -> None:
    """Healthy reports stamp last_success, unhealthy ones last_failure, each keeping the other."""
    health, _, _, now = make_health()
    health.set("redis", True)
    now[0] = 150.0
    health.set("redis", False, "READONLY")
    details = health.snapshot()["details"]["redis"]
    assert details == {
        "healthy": False,
        "detail": "READONLY",
        "last_success_unixtime": 100.0,
        "last_failure_unixtime": 150.0,
        "required_for_ready": True,
        "source": "process",
    }


def test_snapshot_has_the_go_compatible_shape_and_is_json() -> None:
    """The /healthz document has role, mode, ready and a name → bool components map."""
    health, *_ = make_health()
    health.role = Role.LEADER
    health.set("redis", True)
    doc = json.loads(json.dumps(health.snapshot()))
    assert doc["role"] == "leader"
    assert doc["mode"] == "degraded"
    assert doc["ready"] is True
    assert doc["live"] is True
    assert doc["draining"] is False
    assert doc["components"] == {"redis": True, "amqp": False, "exporter_cache": True}
    assert set(doc["details"]) == {"redis", "amqp", "exporter_cache"}


def test_dependency_gauges_follow_component_states() -> None:
    """Each component is exported as gh_exporter_dependency_health 1/0, including the cache."""
    health, flag, metrics, _ = make_health(cache_ready=False)
    assert metrics.value(DEPENDENCY_HEALTH, {"dependency": "redis"}) == 0
    health.set("redis", True)
    assert metrics.value(DEPENDENCY_HEALTH, {"dependency": "redis"}) == 1
    health.snapshot()
    assert metrics.value(DEPENDENCY_HEALTH, {"dependency": "exporter_cache"}) == 0
    flag.value = True
    assert health.ready
    assert metrics.value(DEPENDENCY_HEALTH, {"dependency": "exporter_cache"}) == 1


def test_ready_gauge_is_the_readiness_verdict() -> None:
    """gh_exporter_ready is 1 exactly while /readyz would answer ready: required parts, not draining."""
    health, _, metrics, _ = make_health()
    seen: list[tuple[bool, float]] = [(health.ready, metrics.value(READY))]
    health.set("redis", True)
    seen.append((health.ready, metrics.value(READY)))
    health.set("amqp", False)  # optional: degrades /healthz, never readiness
    seen.append((health.ready, metrics.value(READY)))
    health.start_draining()
    seen.append((health.ready, metrics.value(READY)))
    assert seen == [(False, 0.0), (True, 1.0), (True, 1.0), (False, 0.0)]


def test_unknown_component_and_bad_role_are_wiring_errors() -> None:
    """Setting an unregistered component or an unknown role raises instead of being ignored."""
    health, *_ = make_health()
    with pytest.raises(KeyError, match="never registered"):
        health.set("redsi", True)
    with pytest.raises(ValueError, match="role"):
        health.role = "boss"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="exporter_cache"):
        health.register("exporter_cache", required_for_ready=True)


def test_role_starts_as_starting() -> None:
    """A new process reports the 'starting' role until leadership is decided."""
    health, *_ = make_health()
    assert health.snapshot()["role"] == "starting"


def test_a_loop_that_stops_beating_fails_liveness_and_stays_failed():
    """A watched loop silent for longer than allowed makes /livez fail; a late beat does not revive it."""
    health, _, _, now = make_health()
    health.watch("org_cycle:acme", 600.0)
    verdicts = []
    now[0] += 500
    health.beat("org_cycle:acme")
    verdicts.append(health.live)
    now[0] += 599
    verdicts.append(health.live)
    now[0] += 2
    verdicts.append(health.live)
    health.beat("org_cycle:acme")
    verdicts.append(health.live)
    assert verdicts == [True, True, False, False]
    assert "org_cycle:acme" in health.snapshot()["fatal_reason"]
    assert health.ready is False


def test_collection_components_do_not_count_locally_and_show_as_unpublished():
    """A follower's own view of a collection component is ignored until a leader publishes one."""
    health, _, metrics, _ = make_health()
    health.register("activity:acme", required_for_ready=False, collection=True)
    health.set("redis", True)
    health.set("amqp", True)
    health.set("activity:acme", True)  # e.g. a backfill job on this follower
    snapshot = health.snapshot()
    assert snapshot["components"]["activity:acme"] is False
    assert snapshot["details"]["activity:acme"]["detail"] == "not published by a leader yet"
    assert snapshot["mode"] == "degraded"
    exported = {(s.name, s.labels) for s in metrics.samples()}
    assert (DEPENDENCY_HEALTH.name, (("dependency", "activity:acme"),)) not in exported


def test_folded_health_keeps_a_sole_owners_detail_and_names_shared_members():
    """A component owned by one collector shows its detail as is; a shared one names the failing member."""
    health, _, _, _ = make_health()
    health.register("loc:acme", required_for_ready=False, collection=True)
    health.register("reports", required_for_ready=False, collection=True)
    folded = FoldedHealth(health)
    folded.report("loc:acme", "", healthy=False, detail="failed: web")
    folded.report("reports", "acme", healthy=False, detail="HTTP 500")
    folded.report("reports", "globex", healthy=True)
    state = health.collection_state()
    assert (state["loc:acme"]["healthy"], state["loc:acme"]["detail"]) == (False, "failed: web")
    assert (state["reports"]["healthy"], state["reports"]["detail"]) == (False, "acme: HTTP 500")
    folded.report("reports", "acme", healthy=True)
    assert health.collection_state()["reports"]["healthy"] is True
