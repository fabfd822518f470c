"""Sharded collection: every replica's part of the collector state merges into one page, without duplicates."""

from __future__ import annotations

import functools

import pytest

from github_stats_exporter.app.units import UnitGate
from github_stats_exporter.cluster_parts import PartError, StatePart, UnitState, decode_part, merge_parts
from github_stats_exporter.cluster_state import ClusterState
from github_stats_exporter.exposition import ExpositionCache, Format
from github_stats_exporter.health import FoldedHealth, Health, UnitHealth
from github_stats_exporter.metrics import (
    ACTIVITY_LEDGER_EVENTS,
    ACTIVITY_REPOS,
    ACTIVITY_REPOS_FAILING,
    COLLECTION_HEALTH,
    COPILOT_LAST_SUCCESS,
    LEADER_CYCLE_LAST_RUN,
    PER_PROCESS,
    SCRAPE_DURATION,
    SHARD_UNIT_EPOCH,
)
from github_stats_exporter.model import Sample
from github_stats_exporter.selfmetrics import SelfMetrics, UnitMetrics
from github_stats_exporter.store.memory import MemorySnapshotStore

TTL = 90.0
ACME = (("org", "acme"),)


def part(
    replica: str, at: float, *samples: Sample, health: dict[str, dict[str, object]] | None = None
) -> StatePart:
    return StatePart(replica, at, samples, health or {})


def test_shards_of_one_org_add_up_and_other_families_take_the_largest_value():
    """Per-shard counts add up; the org listing, durations and timestamps keep the largest; one sample per series."""
    a = part(
        "a",
        100.0,
        Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 3),
        Sample(ACTIVITY_REPOS.name, ACME, 12),
        Sample(SCRAPE_DURATION.name, ACME, 2.5),
    )
    b = part(
        "b",
        101.0,
        Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 4),
        Sample(ACTIVITY_REPOS.name, ACME, 12),
        Sample(SCRAPE_DURATION.name, ACME, 1.5),
        Sample(LEADER_CYCLE_LAST_RUN.name, (), 99.0),
    )
    merged = merge_parts([b, a], now=110.0, ttl_seconds=TTL)
    assert merged.samples == (
        Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 7),
        Sample(ACTIVITY_REPOS.name, ACME, 12),
        Sample(LEADER_CYCLE_LAST_RUN.name, (), 99.0),
        Sample(SCRAPE_DURATION.name, ACME, 2.5),
    )
    assert merge_parts([a, b], now=110.0, ttl_seconds=TTL) == merged


def test_a_part_older_than_its_ttl_is_left_out():
    """A dead replica's part stops counting once its TTL has passed, measured on the injected clock."""
    a = part("a", 100.0, Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 3))
    dead = part("dead", 10.0, Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 4))
    assert merge_parts([a, dead], now=100.0, ttl_seconds=TTL).samples == (
        Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 7),
    )
    assert merge_parts([a, dead], now=100.1, ttl_seconds=TTL).samples == (
        Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 3),
    )


def test_a_component_is_healthy_only_when_every_replica_reporting_it_is():
    """The failing replica is named in the detail, timestamps keep the newest, and the gauge follows the verdict."""
    ok = {"healthy": True, "detail": "", "last_success_unixtime": 50.0, "last_failure_unixtime": None}
    bad = {"healthy": False, "detail": "502", "last_success_unixtime": 40.0, "last_failure_unixtime": 60.0}
    merged = merge_parts(
        [part("a", 100.0, health={"activity:acme": ok}), part("b", 100.0, health={"activity:acme": bad})],
        now=100.0,
        ttl_seconds=TTL,
    )
    assert merged.health == {
        "activity:acme": {
            "healthy": False,
            "detail": "b: 502",
            "last_success_unixtime": 50.0,
            "last_failure_unixtime": 60.0,
        }
    }
    assert merged.samples == (Sample(COLLECTION_HEALTH.name, (("component", "activity:acme"),), 0.0),)


def test_a_part_round_trips_and_garbage_is_refused_with_a_clear_error():
    """What `encode` writes `decode_part` reads back; anything else raises `PartError`."""
    original = part(
        "a", 100.0, Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 3), health={"activity:acme": {"healthy": True}}
    )
    assert decode_part(original.encode()) == original
    for raw in (b"not json", b"[]", b'{"replica": "a"}'):
        with pytest.raises(PartError, match="unreadable collector-state part"):
            decode_part(raw)


class Replica:
    """One sharded replica: self-metrics, health, a unit gate, page cache and cluster state on a shared store."""

    def __init__(self, store: MemorySnapshotStore, name: str, now: list[float]) -> None:
        self.metrics = SelfMetrics()
        self.health = Health(lambda: True, self.metrics, clock=lambda: now[0])
        self.health.register("store", required_for_ready=False)
        self.health.register("activity:acme", required_for_ready=False, collection=True)
        self.folds = FoldedHealth(self.health)
        self.cache = ExpositionCache(store, self.metrics, clock=lambda: now[0])
        self.state = ClusterState(
            store,
            self.metrics,
            self.health,
            identity=name,
            rewrite_after_seconds=60.0,
            clock=lambda: now[0],
            parts=store,
            part_ttl_seconds=TTL,
        )
        self.state.on_units_lost(self.folds.retain_units)
        self.units = UnitGate(self.health, self.metrics, name, on_lost=self.state.units_lost)

    async def refresh(self, *, leader: bool) -> str:
        await self.state.publish_part()
        if leader:
            await self.state.publish()
        await self.state.load()
        await self.cache.refresh()
        return self.cache.body(Format.TEXT).decode()


def shared(page: str) -> list[str]:
    """The page without the per-process families."""
    return [line for line in page.splitlines() if not any(name in line for name in PER_PROCESS)]


def lines(page: str, family: str) -> list[str]:
    return [line for line in page.splitlines() if line.startswith(family)]


async def test_every_replica_serves_the_merge_and_a_moved_unit_is_counted_once():
    """Both replicas' shards reach both pages once; after a unit moves, only its new holder reports it."""
    now = [1000.0]
    store = MemorySnapshotStore(clock=lambda: now[0])
    a, b = Replica(store, "a", now), Replica(store, "b", now)
    a.units.set({"repos:org/acme#0/2": 1})
    b.units.set({"repos:org/acme#1/2": 1})
    a.metrics.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 3)
    a.folds.report("activity:acme", "#0/2", True)
    b.metrics.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 4)
    b.folds.report("activity:acme", "#1/2", False, "502")
    a.metrics.set(SHARD_UNIT_EPOCH, {"unit": "repos:org/acme#0/2", "replica": "a"}, 1)
    b.metrics.set(SHARD_UNIT_EPOCH, {"unit": "repos:org/acme#0/2", "replica": "b"}, 9)  # b's stale view
    await b.refresh(leader=False)
    page_a = await a.refresh(leader=True)
    page_b = await b.refresh(leader=False)
    assert shared(page_a) == shared(page_b)
    assert lines(page_b, "gh_exporter_activity_ledger_events{") == [
        'gh_exporter_activity_ledger_events{org="acme"} 7'
    ]
    # Who holds a unit is the leader's view, published once.
    assert lines(page_b, "gh_exporter_shard_unit_epoch{") == [
        'gh_exporter_shard_unit_epoch{unit="repos:org/acme#0/2",replica="a"} 1'
    ]
    assert b.health.snapshot()["components"]["activity:acme"] is False

    # b's shard moves to a: b forgets what it measured, a measures both shards.
    b.units.set({})
    a.units.set({"repos:org/acme#0/2": 1, "repos:org/acme#1/2": 2})
    a.metrics.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 7)
    a.folds.report("activity:acme", "#1/2", True)
    now[0] += 1
    await b.refresh(leader=False)
    await a.refresh(leader=True)
    page_b = await b.refresh(leader=False)
    assert lines(page_b, "gh_exporter_activity_ledger_events{") == [
        'gh_exporter_activity_ledger_events{org="acme"} 7'
    ]
    assert b.health.snapshot()["components"]["activity:acme"] is True

    # The leader losing a unit forgets its measurements but not its view of who holds what.
    a.units.set({"repos:org/acme#1/2": 2})
    now[0] += 1
    page_a = await a.refresh(leader=True)
    assert lines(page_a, "gh_exporter_activity_ledger_events{") == []
    assert lines(page_a, "gh_exporter_shard_unit_epoch{") == [
        'gh_exporter_shard_unit_epoch{unit="repos:org/acme#0/2",replica="a"} 1'
    ]


async def test_a_dead_replicas_part_expires():
    """A replica that stops writing drops out of the merged page once its part's TTL has passed."""
    now = [1000.0]
    store = MemorySnapshotStore(clock=lambda: now[0])
    a, dead = Replica(store, "a", now), Replica(store, "dead", now)
    a.metrics.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 3)
    dead.metrics.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 4)
    await dead.refresh(leader=False)
    assert lines(await a.refresh(leader=True), "gh_exporter_activity_ledger_events{") == [
        'gh_exporter_activity_ledger_events{org="acme"} 7'
    ]
    now[0] += TTL + 1
    assert lines(await a.refresh(leader=True), "gh_exporter_activity_ledger_events{") == [
        'gh_exporter_activity_ledger_events{org="acme"} 3'
    ]


async def test_a_replica_that_left_the_members_drops_out_before_its_part_expires():
    """With the coordinator's live members known, a killed replica's part stops counting when it leaves them."""
    now = [1000.0]
    store = MemorySnapshotStore(clock=lambda: now[0])
    a, dead = Replica(store, "a", now), Replica(store, "dead", now)
    members = ["a", "dead"]
    a.state.follow_members(lambda: members)
    a.metrics.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 3)
    dead.metrics.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 4)
    await dead.refresh(leader=False)
    assert lines(await a.refresh(leader=True), "gh_exporter_activity_ledger_events{") == [
        'gh_exporter_activity_ledger_events{org="acme"} 7'
    ]
    members.remove("dead")
    now[0] += 1
    assert lines(await a.refresh(leader=True), "gh_exporter_activity_ledger_events{") == [
        'gh_exporter_activity_ledger_events{org="acme"} 3'
    ]


def test_each_unit_counts_once_from_its_newest_term_and_units_of_one_org_add_up():
    """Two shards' values add up per org; a unit in two parts (mid-handover) counts from its newest term."""
    s0, s1 = "repos:org/acme#0/2", "repos:org/acme#1/2"
    a = StatePart(
        "a",
        100.0,
        (),
        {},
        {
            s0: UnitState(
                3, (Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 3), Sample(SCRAPE_DURATION.name, ACME, 2))
            ),
            s1: UnitState(
                4, (Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 4), Sample(SCRAPE_DURATION.name, ACME, 5))
            ),
        },
    )
    stale = StatePart(
        "b", 105.0, (), {}, {s1: UnitState(2, (Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 40),))}
    )
    merged = merge_parts([stale, a], now=110.0, ttl_seconds=TTL)
    assert merged.samples == (
        Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 7),
        Sample(SCRAPE_DURATION.name, ACME, 5),
    )
    assert merge_parts([a, stale], now=110.0, ttl_seconds=TTL) == merged
    assert decode_part(a.encode()) == a


S0, S1 = "repos:org/acme#0/2", "repos:org/acme#1/2"


def shard(replica: Replica, unit: str, events: float, failing: float) -> None:
    """What one shard's activity collector sets at the end of its cycle, through its unit's view."""
    view = UnitMetrics(replica.metrics, unit, functools.partial(replica.units.epoch, unit))
    view.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, events)
    view.set(ACTIVITY_REPOS_FAILING, {"org": "acme"}, failing)
    view.set(ACTIVITY_REPOS, {"org": "acme"}, 12)


def org_totals(page: str) -> list[str]:
    return [
        *lines(page, "gh_exporter_activity_ledger_events{"),
        *lines(page, "gh_exporter_activity_repos{"),
        *lines(page, "gh_exporter_activity_repos_failing{"),
    ]


async def test_two_shards_of_one_org_on_one_replica_add_up():
    """One replica holding both shards of an org serves the org totals, whichever shard finished last."""
    now = [1000.0]
    store = MemorySnapshotStore(clock=lambda: now[0])
    a = Replica(store, "a", now)
    a.units.set({S0: 1, S1: 1})
    shard(a, S0, 3, 1)
    shard(a, S1, 4, 2)
    assert org_totals(await a.refresh(leader=True)) == [
        'gh_exporter_activity_ledger_events{org="acme"} 7',
        'gh_exporter_activity_repos{org="acme"} 12',
        'gh_exporter_activity_repos_failing{org="acme"} 3',
    ]
    shard(a, S0, 5, 0)  # the next cycle of shard 0 replaces only its own values
    now[0] += 1
    assert org_totals(await a.refresh(leader=True))[0] == 'gh_exporter_activity_ledger_events{org="acme"} 9'


async def test_shards_of_one_org_on_two_replicas_and_a_moved_unit_count_once():
    """Shards on two replicas add up; after a unit moves the loser forgets it and nothing counts twice."""
    now = [1000.0]
    store = MemorySnapshotStore(clock=lambda: now[0])
    a, b = Replica(store, "a", now), Replica(store, "b", now)
    a.units.set({S0: 1})
    b.units.set({S1: 1})
    shard(a, S0, 3, 1)
    shard(b, S1, 4, 2)
    await b.refresh(leader=False)
    expected = [
        'gh_exporter_activity_ledger_events{org="acme"} 7',
        'gh_exporter_activity_repos{org="acme"} 12',
        'gh_exporter_activity_repos_failing{org="acme"} 3',
    ]
    assert org_totals(await a.refresh(leader=True)) == expected
    assert org_totals(await b.refresh(leader=False)) == expected

    # S1 moves to a (term 2); a measures it before b's part is rewritten: b's stale term is not counted.
    a.units.set({S0: 1, S1: 2})
    shard(a, S1, 4, 2)
    now[0] += 1
    assert org_totals(await a.refresh(leader=True)) == expected
    # b learns it lost S1 and forgets it; its own part no longer carries it.
    b.units.set({})
    assert b.metrics.unit_states() == {}
    now[0] += 1
    await b.refresh(leader=False)
    assert org_totals(await a.refresh(leader=True)) == expected
    # a loses S0 alone: S1's values stay with a, S0's go.
    a.units.set({S1: 2})
    now[0] += 1
    assert org_totals(await a.refresh(leader=True)) == [
        'gh_exporter_activity_ledger_events{org="acme"} 4',
        'gh_exporter_activity_repos{org="acme"} 12',
        'gh_exporter_activity_repos_failing{org="acme"} 2',
    ]


def test_a_unit_view_keeps_nothing_without_a_term_and_starts_a_new_term_empty():
    """Values set while the unit is not held are dropped; a new epoch forgets the previous term's values."""
    metrics = SelfMetrics()
    epoch = [0]
    view = UnitMetrics(metrics, S0, lambda: epoch[0])
    view.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 3)
    assert metrics.unit_states() == {}
    epoch[0] = 1
    view.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 3)
    view.set(ACTIVITY_REPOS, {"org": "acme"}, 12)
    epoch[0] = 2
    view.set(ACTIVITY_LEDGER_EVENTS, {"org": "acme"}, 5)
    assert metrics.unit_states() == {S0: (2, (Sample(ACTIVITY_LEDGER_EVENTS.name, ACME, 5),))}
    assert metrics.unit_value(S0, ACTIVITY_LEDGER_EVENTS, {"org": "acme"}) == 5
    # Unit values are never served as this process's own series.
    assert metrics.cluster_state_samples() == ()
    assert metrics.gauge_samples() == ()


async def test_a_lost_unit_takes_only_its_own_health_verdicts_and_gauges_with_it():
    """Losing one shard keeps the other shard's verdict and a Copilot unit's gauge; the failing one leaves."""
    now = [1000.0]
    store = MemorySnapshotStore(clock=lambda: now[0])
    a = Replica(store, "a", now)
    copilot = "copilot:org/acme"
    a.units.set({S0: 1, S1: 1, copilot: 1})
    UnitHealth(a.folds, S0).report("activity:acme", "#0/2", True)
    UnitHealth(a.folds, S1).report("activity:acme", "#1/2", False, "502")
    UnitMetrics(a.metrics, copilot, functools.partial(a.units.epoch, copilot)).set(
        COPILOT_LAST_SUCCESS, {"org": "acme", "scope": "org"}, 900.0
    )
    await a.refresh(leader=True)
    assert a.health.snapshot()["components"]["activity:acme"] is False

    a.units.set({S0: 1, copilot: 1})  # S1 moved away: its failure is not this replica's any more
    now[0] += 1
    page = await a.refresh(leader=True)
    assert a.health.snapshot()["components"]["activity:acme"] is True
    assert lines(page, "gh_exporter_copilot_last_success_unixtime{") == [
        'gh_exporter_copilot_last_success_unixtime{org="acme",scope="org"} 900'
    ]

    a.units.set({copilot: 1})  # no shard of the org left here: no verdict of its own
    now[0] += 1
    await a.refresh(leader=True)
    assert a.health.snapshot()["components"]["activity:acme"] is False
    assert "activity:acme" not in a.health.collection_state(measured_only=True)
