"""Cluster-wide counters: flushed once per batch, and served the same and never decreasing on every replica."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping

import pytest

from github_stats_exporter import metrics as m
from github_stats_exporter.cluster_counters import (
    SEALED_PREFIX,
    ClusterCounters,
    decode_totals,
    encode_totals,
)
from github_stats_exporter.model import Sample
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import CounterKey, StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore

LABELS = {"org": "acme", "endpoint": "list_commits", "status_class": "2xx"}
REQUESTS = (m.GITHUB_REQUESTS.name, tuple(LABELS.items()))
METRICS_200 = {"path": "/metrics", "code": "200"}
HTTP_200 = (m.HTTP_REQUESTS.name, tuple(METRICS_200.items()))
EPOCH = 10.0
START = 1_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FlakyCounterStore(MemorySnapshotStore):
    """Memory store whose counter flush can fail before or after applying (an unknown outcome)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: str | None = None  # "before" or "after"
        self.calls: list[str] = []

    async def counters(self) -> dict[CounterKey, float]:
        self.calls.append("counters")
        return await super().counters()

    async def add_counters(self, deltas: Mapping[CounterKey, float], batch_id: str = "") -> None:
        self.calls.append("add_counters")
        if self.fail == "before":
            msg = "redis down"
            raise StoreUnavailable(msg)
        await super().add_counters(deltas, batch_id)
        if self.fail == "after":
            msg = "connection lost before the reply"
            raise StoreUnavailable(msg)


async def test_replicas_serve_identical_monotonic_counters():
    """Interleaved increments and syncs on three replicas never make a scraped counter go down."""
    store = MemorySnapshotStore()
    clock = Clock(START)
    replicas = [SelfMetrics() for _ in range(3)]
    counters = [ClusterCounters(store, r, epoch_seconds=EPOCH, clock=clock) for r in replicas]
    rng = random.Random(7)
    # Each replica syncs every EPOCH seconds at its own phase, as with one page refresh interval.
    next_sync = [clock.now + rng.uniform(0, EPOCH) for _ in counters]
    for c in counters:
        await c.sync()
    seen: list[float] = []
    total_increments = 0
    for _ in range(2000):
        clock.now += rng.uniform(0.05, 0.5)
        who = rng.randrange(3)
        replicas[who].inc(m.GITHUB_REQUESTS, LABELS)
        total_increments += 1
        for i, c in enumerate(counters):
            if clock.now >= next_sync[i]:
                await c.sync()
                next_sync[i] += EPOCH
        values = [c.served_totals().get(REQUESTS, 0.0) for c in counters]
        assert len(set(values)) == 1, (clock.now, values)  # identical on every replica
        seen.append(values[rng.randrange(3)])  # a scrape reaching any replica
    assert seen == sorted(seen)  # never goes down as Prometheus sees it
    assert seen[-1] > 0
    assert seen[-1] <= total_increments


async def test_single_replica_mode_serves_unflushed_increments_at_once():
    """Without epochs (one replica) a counter includes increments not yet flushed to the store."""
    metrics = SelfMetrics()
    counters = ClusterCounters(MemorySnapshotStore(), metrics)
    await counters.sync()
    version = counters.served_version()
    metrics.inc(m.GITHUB_REQUESTS, LABELS, 3)
    assert counters.served_totals()[REQUESTS] == 3
    assert counters.served_version() != version


async def test_replicas_serve_the_same_cluster_total() -> None:
    """Two processes on one store both serve the sum of their increments once both have synced."""
    store = MemorySnapshotStore()
    metrics_a, metrics_b = SelfMetrics(), SelfMetrics()
    counters_a, counters_b = ClusterCounters(store, metrics_a), ClusterCounters(store, metrics_b)
    metrics_a.inc(m.HTTP_REQUESTS, METRICS_200, 3)
    metrics_b.inc(m.HTTP_REQUESTS, METRICS_200, 4)
    await counters_a.sync()
    await counters_b.sync()
    await counters_a.sync()
    assert counters_a.served_totals()[HTTP_200] == counters_b.served_totals()[HTTP_200] == 7
    assert (await store.counters())[HTTP_200] == 7


async def test_served_counter_never_goes_down_across_flushes_and_failures() -> None:
    """Local increments show at once and the served value only grows through flushes, failures and retries."""
    store = FlakyCounterStore()
    metrics = SelfMetrics()
    counters = ClusterCounters(store, metrics)
    await counters.sync()
    seen = [counters.served_totals().get(HTTP_200, 0.0)]
    for step in ("ok", "before", "after", "ok", "ok"):
        metrics.inc(m.HTTP_REQUESTS, METRICS_200, 2)
        seen.append(counters.served_totals()[HTTP_200])
        store.fail = None if step == "ok" else step
        if step == "ok":
            await counters.sync()
        else:
            with pytest.raises(StoreUnavailable):
                await counters.sync()
        seen.append(counters.served_totals()[HTTP_200])
    assert seen == sorted(seen)
    assert seen[-1] == 10
    assert (await store.counters())[HTTP_200] == 10


async def test_a_flush_with_an_unknown_outcome_is_retried_once() -> None:
    """A flush that landed but lost its reply is retried with the same batch id and counted once."""
    store = FlakyCounterStore()
    metrics = SelfMetrics()
    counters = ClusterCounters(store, metrics)
    metrics.inc(m.HTTP_REQUESTS, METRICS_200, 5)
    store.fail = "after"
    with pytest.raises(StoreUnavailable):
        await counters.sync()
    assert metrics.value(m.STORE_FLUSH_FAILURES) == 1
    store.fail = None
    await counters.sync()  # retries the batch (already applied) ...
    await counters.sync()  # ... then flushes the failure counter itself
    totals = await store.counters()
    assert totals[HTTP_200] == 5
    assert totals[(m.STORE_FLUSH_FAILURES.name, ())] == 1
    assert counters.served_totals()[HTTP_200] == 5


async def test_flush_failing_gauge_grows_while_flushes_fail_and_resets_on_success() -> None:
    """The per-process failing-seconds gauge counts from the first failed flush and is 0 after a success."""
    store = FlakyCounterStore()
    metrics = SelfMetrics()
    clock = Clock(START)
    counters = ClusterCounters(store, metrics, epoch_seconds=EPOCH, clock=clock)
    metrics.inc(m.HTTP_REQUESTS, METRICS_200)
    store.fail = "before"
    seen = []
    for _ in range(3):
        with pytest.raises(StoreUnavailable):
            await counters.sync()
        seen.append(metrics.value(m.STORE_FLUSH_FAILING))
        clock.now += 30
    assert seen == [0.0, 30.0, 60.0]
    assert metrics.value(m.STORE_FLUSH_FAILURES) == 3  # waiting in the batch: no replica can serve it yet
    store.fail = None
    await counters.sync()
    assert metrics.value(m.STORE_FLUSH_FAILING) == 0.0
    assert Sample(m.STORE_FLUSH_FAILING.name, (), 0.0) in metrics.gauge_samples()  # served per process


async def test_idle_sync_only_reads_the_totals() -> None:
    """With no new increments a one-replica sync reads the totals and flushes nothing."""
    store = FlakyCounterStore()
    counters = ClusterCounters(store, SelfMetrics())
    await counters.sync()
    store.calls.clear()
    await counters.sync()
    assert store.calls == ["counters"]


async def test_one_replica_seals_an_epoch_and_the_others_reuse_its_record() -> None:
    """The first sync after a boundary seals the totals; a later replica serves that record, not newer totals."""
    store = MemorySnapshotStore()
    clock = Clock(START)
    metrics_a, metrics_b = SelfMetrics(), SelfMetrics()
    sealer = ClusterCounters(store, metrics_a, epoch_seconds=EPOCH, clock=clock)
    follower = ClusterCounters(store, metrics_b, epoch_seconds=EPOCH, clock=clock)
    metrics_a.inc(m.HTTP_REQUESTS, METRICS_200, 3)
    await sealer.sync()  # flushes 3, then seals the current epoch with 3
    metrics_b.inc(m.HTTP_REQUESTS, METRICS_200, 4)
    await follower.sync()  # flushes 4, finds the epoch already sealed
    epoch = int(START // EPOCH)
    record = await store.get_checkpoint(f"{SEALED_PREFIX}{epoch}")
    assert record is not None
    assert decode_totals(record)[HTTP_200] == 3
    assert (await store.counters())[HTTP_200] == 7
    clock.now = (epoch + 2.5) * EPOCH  # the moment every replica serves this epoch
    assert sealer.served_totals()[HTTP_200] == follower.served_totals()[HTTP_200] == 3


async def test_the_switch_to_a_newer_epoch_happens_at_its_moment_without_a_sync() -> None:
    """Served totals change when the wall clock reaches the switch moment, not at a sync."""
    store = MemorySnapshotStore()
    clock = Clock(START)
    metrics = SelfMetrics()
    counters = ClusterCounters(store, metrics, epoch_seconds=EPOCH, clock=clock)
    epoch = int(START // EPOCH)
    metrics.inc(m.HTTP_REQUESTS, METRICS_200, 3)
    await counters.sync()
    clock.now = (epoch + 1) * EPOCH
    metrics.inc(m.HTTP_REQUESTS, METRICS_200, 2)
    await counters.sync()  # seals epoch + 1 with 5
    clock.now = (epoch + 3.5) * EPOCH - 0.001
    version = counters.served_version()
    assert counters.served_totals()[HTTP_200] == 3
    clock.now = (epoch + 3.5) * EPOCH
    assert counters.served_version() != version
    assert counters.served_totals()[HTTP_200] == 5


async def test_nothing_is_served_before_the_first_sealed_epoch_is_due() -> None:
    """A fresh cluster serves no counter until its first sealed epoch reaches the switch moment."""
    clock = Clock(START)
    metrics = SelfMetrics()
    counters = ClusterCounters(MemorySnapshotStore(), metrics, epoch_seconds=EPOCH, clock=clock)
    metrics.inc(m.HTTP_REQUESTS, METRICS_200, 3)
    await counters.sync()
    assert counters.served_totals() == {}


@pytest.mark.parametrize("epoch_seconds", [pytest.param(0.0, id="zero"), pytest.param(-1.0, id="negative")])
def test_epoch_length_must_be_positive(epoch_seconds: float) -> None:
    """An epoch of zero or less is refused when built, not at the first sync."""
    with pytest.raises(ValueError, match="epoch_seconds"):
        ClusterCounters(MemorySnapshotStore(), SelfMetrics(), epoch_seconds=epoch_seconds)


def test_sealed_records_round_trip_and_skip_unreadable_entries() -> None:
    """A sealed record decodes to the totals it was made from; entries another version wrote are skipped."""
    totals = {HTTP_200: 7.0, (m.STORE_FLUSH_FAILURES.name, ()): 1.0}
    record = encode_totals(totals)
    assert decode_totals(record) == totals
    assert decode_totals(b"{not json") == {}


def test_sealed_records_of_an_earlier_version_still_read() -> None:
    """The map of JSON-text keys earlier versions sealed reads back; entries it cannot read are skipped."""
    legacy = {
        json.dumps([HTTP_200[0], [list(pair) for pair in HTTP_200[1]]]): "7.0",
        json.dumps([m.STORE_FLUSH_FAILURES.name, []]): "1.0",
        "not json": "1",
        '["x", []]': "many",
    }
    assert decode_totals(json.dumps(legacy).encode()) == {
        HTTP_200: 7.0,
        (m.STORE_FLUSH_FAILURES.name, ()): 1.0,
    }
