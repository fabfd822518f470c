"""Cluster state: the leader's collector gauges and collection health reach every replica through the store."""

from __future__ import annotations

import json

from github_stats_exporter.cluster_state import STATE_KEY, ClusterState
from github_stats_exporter.exposition import ExpositionCache, Format
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import (
    ACTIVITY_REPOS,
    BUILD_INFO,
    COLLECTION_HEALTH,
    GITHUB_RATE_LIMIT_REMAINING,
    IS_LEADER,
)
from github_stats_exporter.model import Sample, Snapshot
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore


class Replica:
    """One process's view: self-metrics, health, page cache and cluster state on a shared store."""

    def __init__(self, store: MemorySnapshotStore, name: str, now: list[float]) -> None:
        self.metrics = SelfMetrics()
        self.health = Health(lambda: True, self.metrics, clock=lambda: now[0])
        self.health.register("store", required_for_ready=False)
        self.health.register("activity:acme", required_for_ready=False, collection=True)
        self.cache = ExpositionCache(store, self.metrics, clock=lambda: now[0])
        self.state = ClusterState(
            store, self.metrics, self.health, identity=name, rewrite_after_seconds=60.0, clock=lambda: now[0]
        )

    async def refresh(self, *, leader: bool) -> str:
        if leader:
            await self.state.publish()
        await self.state.load()
        await self.cache.refresh()
        return self.cache.body(Format.TEXT).decode()


def lines(page: str, family: str) -> list[str]:
    return [line for line in page.splitlines() if line.startswith(family)]


async def test_a_follower_serves_the_leaders_collector_gauges_and_never_its_own():
    """Rate-limit and repo gauges measured on the leader appear on the follower's page, not its own values."""
    store, now = MemorySnapshotStore(), [1000.0]
    leader, follower = Replica(store, "a", now), Replica(store, "b", now)
    leader.metrics.set(ACTIVITY_REPOS, {"org": "acme"}, 7)
    leader.metrics.set(GITHUB_RATE_LIMIT_REMAINING, {"org": "acme", "installation_id": "1"}, 4000)
    # The follower's backfill worker saw an older header: it must not reach any page.
    follower.metrics.set(GITHUB_RATE_LIMIT_REMAINING, {"org": "acme", "installation_id": "1"}, 4999)
    leader_page = await leader.refresh(leader=True)
    follower_page = await follower.refresh(leader=False)
    for page in (leader_page, follower_page):
        assert lines(page, "gh_exporter_activity_repos{") == ['gh_exporter_activity_repos{org="acme"} 7']
        assert lines(page, "gh_exporter_github_rate_limit_remaining{") == [
            'gh_exporter_github_rate_limit_remaining{org="acme",installation_id="1"} 4000'
        ]


async def test_per_process_gauges_stay_with_their_process():
    """Build info and the leader gauge are served from each process itself, never published."""
    store, now = MemorySnapshotStore(), [1000.0]
    leader, follower = Replica(store, "a", now), Replica(store, "b", now)
    leader.metrics.set(IS_LEADER, None, 1)
    follower.metrics.set(IS_LEADER, None, 0)
    leader.metrics.set(BUILD_INFO, {"version": "1", "python": "3.11"}, 1)
    await leader.refresh(leader=True)
    stored = (await store.get_many([STATE_KEY]))[STATE_KEY]
    assert {s.name for s in stored.samples}.isdisjoint({IS_LEADER.name, BUILD_INFO.name})
    assert lines(await follower.refresh(leader=False), "gh_exporter_leader ") == ["gh_exporter_leader 0"]


async def test_publish_writes_only_changes_and_rewrites_before_expiry():
    """An unchanged state costs no write until the rewrite period; a change is written at once."""
    store, now = MemorySnapshotStore(), [1000.0]
    leader = Replica(store, "a", now)
    leader.metrics.set(ACTIVITY_REPOS, {"org": "acme"}, 7)
    written = [await leader.state.publish()]
    now[0] += 10
    written.append(await leader.state.publish())
    leader.metrics.set(ACTIVITY_REPOS, {"org": "acme"}, 8)
    written.append(await leader.state.publish())
    now[0] += 61
    written.append(await leader.state.publish())
    assert written == [True, False, True, True]


async def test_a_new_leader_adopts_what_it_has_not_measured_and_keeps_what_it_has():
    """Takeover: published values fill the gaps; a value measured in the new term is never overridden."""
    store, now = MemorySnapshotStore(), [1000.0]
    old, new = Replica(store, "a", now), Replica(store, "b", now)
    old.metrics.set(ACTIVITY_REPOS, {"org": "acme"}, 7)
    old.metrics.set(GITHUB_RATE_LIMIT_REMAINING, {"org": "acme", "installation_id": "1"}, 4000)
    old.health.set("activity:acme", True)
    await old.refresh(leader=True)
    # A stale value from an earlier term of the new leader is forgotten when its term begins ...
    new.metrics.set(ACTIVITY_REPOS, {"org": "acme"}, 3)
    new.state.leadership_changed()
    # ... and what it measures in the new term before adopting wins over the published value.
    new.metrics.set(GITHUB_RATE_LIMIT_REMAINING, {"org": "acme", "installation_id": "1"}, 3990)
    page = await new.refresh(leader=True)
    assert lines(page, "gh_exporter_activity_repos{") == ['gh_exporter_activity_repos{org="acme"} 7']
    assert lines(page, "gh_exporter_github_rate_limit_remaining{") == [
        'gh_exporter_github_rate_limit_remaining{org="acme",installation_id="1"} 3990'
    ]
    assert new.health.snapshot()["components"]["activity:acme"] is True


async def test_a_stored_record_cannot_inject_per_process_or_unknown_series():
    """Adoption takes cluster-state gauges only, whatever a record written by another version holds."""
    store, now = MemorySnapshotStore(), [1000.0]
    samples = (
        Sample(IS_LEADER.name, (), 1.0),
        Sample("gh_not_a_family", (), 1.0),
        Sample(ACTIVITY_REPOS.name, (("org", "acme"),), 5.0),
    )
    await store.put(Snapshot(STATE_KEY, samples, 1000.0, meta={"collection_health": "{not json"}))
    follower = Replica(store, "c", now)
    await follower.state.load()  # unreadable health: no components from the cluster, no crash
    assert follower.health.snapshot()["details"]["activity:acme"]["detail"] == "not published by a leader yet"
    replica = Replica(store, "b", now)
    await replica.state.publish()
    adopted = [s for s in replica.metrics.cluster_state_samples() if s.name != COLLECTION_HEALTH.name]
    assert adopted == [Sample(ACTIVITY_REPOS.name, (("org", "acme"),), 5.0)]
    assert replica.metrics.value(IS_LEADER) == 0


async def test_a_follower_is_not_degraded_by_collection_it_does_not_run():
    """The follower reports the leader's collection verdicts; it is healthy when the cluster is."""
    store, now = MemorySnapshotStore(), [1000.0]
    leader, follower = Replica(store, "a", now), Replica(store, "b", now)
    for replica in (leader, follower):
        replica.health.set("store", True)
    leader.health.set("activity:acme", True)
    await leader.refresh(leader=True)
    await follower.refresh(leader=False)
    snapshot = follower.health.snapshot()
    assert snapshot["mode"] == "healthy"
    assert snapshot["components"]["activity:acme"] is True
    assert snapshot["details"]["activity:acme"]["source"] == "cluster"
    assert snapshot["collection_published"]["publisher"] == "a"
    # The cluster's failure degrades every replica alike.
    leader.health.set("activity:acme", False, "pulls failed")
    await leader.refresh(leader=True)
    await follower.refresh(leader=False)
    assert (leader.health.mode, follower.health.mode) == ("degraded", "degraded")
    assert follower.health.snapshot()["details"]["activity:acme"]["detail"] == "pulls failed"


async def test_collection_health_is_a_cluster_gauge_not_a_dependency_of_the_process():
    """Collection components export gh_exporter_collection_health; process ones dependency_health."""
    store, now = MemorySnapshotStore(), [1000.0]
    leader, follower = Replica(store, "a", now), Replica(store, "b", now)
    leader.health.set("activity:acme", True)
    await leader.refresh(leader=True)
    page = await follower.refresh(leader=False)
    assert lines(page, COLLECTION_HEALTH.name + "{") == [
        'gh_exporter_collection_health{component="activity:acme"} 1'
    ]
    assert not any("activity:acme" in line for line in lines(page, "gh_exporter_dependency_health"))


async def test_a_required_collection_component_follows_the_cluster_view_on_every_replica():
    """readiness_requires on a collection component means the cluster's verdict, not the local one."""
    store, now = MemorySnapshotStore(), [1000.0]
    leader, follower = Replica(store, "a", now), Replica(store, "b", now)
    follower.health.require("activity:acme")
    await follower.refresh(leader=False)
    verdicts = [follower.health.ready]  # nothing published yet
    leader.health.set("activity:acme", True)
    await leader.refresh(leader=True)
    await follower.refresh(leader=False)
    verdicts.append(follower.health.ready)
    assert verdicts == [False, True]
    stored = (await store.get_many([STATE_KEY]))[STATE_KEY]
    assert json.loads(stored.meta["collection_health"])["activity:acme"]["healthy"] is True
