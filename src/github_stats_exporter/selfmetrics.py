"""This process's own counters and gauges (self-metrics), handed to the renderer as samples.

`SelfMetrics` keeps counters and gauges declared in `metrics.py`, and hands counter increments out in
batches (`CounterBatch`) so `cluster_counters.ClusterCounters` can add them to the store's
cluster-wide totals. Gauges of ``cluster_state`` families are kept apart: the renderer never serves
them from here; `cluster_state.ClusterState` publishes the leader's values through the store.

In sharded collection the collectors of one work unit set their ``cluster_state`` gauges through a
`UnitMetrics` view: those values are kept per unit and per term (epoch), so two shards of one org in
one process do not overwrite each other's series, and a lost unit's values are forgotten alone
(`retain_units`); `cluster_parts` merges them per org with the family's rule.

This module never talks to the store or the network, and never puts secrets in labels.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from github_stats_exporter.metrics import FAMILIES, MetricSpec, MetricType
from github_stats_exporter.model import Labels, Sample

SeriesKey = tuple[str, Labels]
KEYS_MAX = 100_000
"""Remembered label sets (validated once each); past this the memory starts over."""


@dataclass(frozen=True, slots=True)
class CounterBatch:
    """Counter increments not yet in the shared totals; ``id`` makes a retried flush idempotent."""

    id: str
    deltas: Mapping[SeriesKey, float]


class SelfMetrics:
    """Counters and gauges of this process, keyed by (family, labels).

    Counters only ever go up; `set` on a counter is refused so a `_total` series stays monotonic.
    Thread-safe because the renderer may read from a worker thread while the loop writes.

    Flushing counters: `take_counter_batch` returns the increments since the last confirmed batch and
    keeps returning that same batch (same id) until `confirm_counter_batch`, so a flush whose outcome
    is unknown is retried as-is and the store applies it once. `unflushed_counters` is what is not
    confirmed yet; served totals are the store's totals plus that part.
    """

    def __init__(self) -> None:
        self._values: dict[SeriesKey, float] = {}
        self._counter_keys: set[SeriesKey] = set()
        self._cluster_keys: set[SeriesKey] = set()
        self._flushed: dict[SeriesKey, float] = {}
        self._pending: CounterBatch | None = None
        self._batch_prefix = uuid.uuid4().hex
        self._batch_seq = 0
        self._lock = threading.Lock()
        self._generation = 0
        self._removals = 0
        self._units: dict[str, tuple[int, dict[SeriesKey, float]]] = {}
        self._keys: dict[tuple[str, tuple[tuple[str, str], ...]], SeriesKey] = {}
        """(family, labels as given) -> validated series key: the clients set several per answer."""

    @property
    def generation(self) -> int:
        """Changes whenever a value changes; lets a cache skip rebuilding self-metric lines."""
        return self._generation

    @property
    def removals(self) -> int:
        """Changes whenever values are dropped (`remove`, `clear_cluster_state`).

        A caller that skips setting a gauge to the value it set last may do so only while this is
        unchanged: otherwise the value it set may be gone.
        """
        return self._removals

    def inc(self, spec: MetricSpec, labels: Mapping[str, str] | None = None, amount: float = 1.0) -> None:
        if amount < 0:
            msg = f"{spec.name}: counters cannot decrease (amount={amount})"
            raise ValueError(msg)
        key = self._key(spec, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount
            self._counter_keys.add(key)
            self._generation += 1

    def set(self, spec: MetricSpec, labels: Mapping[str, str] | None = None, value: float = 0.0) -> None:
        if spec.type is MetricType.COUNTER:
            msg = f"{spec.name} is a counter; use inc()"
            raise TypeError(msg)
        key = self._key(spec, labels)
        with self._lock:
            if spec.cluster_state:
                self._cluster_keys.add(key)
            if self._values.get(key) != value:
                self._values[key] = value
                self._generation += 1

    def clear_cluster_state(self) -> None:
        """Forget every ``cluster_state`` value (a term begins: only what it measures, or adopts, counts)."""
        with self._lock:
            for key in self._cluster_keys:
                if self._values.pop(key, None) is not None:
                    self._generation += 1
            self._cluster_keys.clear()
            self._removals += 1

    def adopt_cluster_state(self, samples: Iterable[Sample]) -> None:
        """Fill in published collector state this process has not measured itself yet.

        A new leader continues from its predecessor's values until its own collectors replace them;
        a value it already set in this term is newer and stays. Samples of families that are not
        ``cluster_state`` gauges are ignored: a stored record written by another version must not
        inject per-process or unknown series.
        """
        with self._lock:
            for sample in samples:
                spec = FAMILIES.get(sample.name)
                if spec is None or not spec.cluster_state:
                    continue
                key = (sample.name, sample.labels)
                if key in self._values:
                    continue
                self._cluster_keys.add(key)
                self._values[key] = sample.value
                self._generation += 1

    def set_unit(
        self, unit: str, epoch: int, spec: MetricSpec, labels: Mapping[str, str] | None, value: float
    ) -> None:
        """Set a ``cluster_state`` gauge measured by ``unit``'s collectors in its term ``epoch``.

        Without a term (epoch 0) nothing is kept; a new term starts from no values.
        """
        if not spec.cluster_state:
            msg = f"{spec.name} is not a cluster_state gauge; use set()"
            raise TypeError(msg)
        key = self._key(spec, labels)
        if epoch <= 0:
            return
        with self._lock:
            held = self._units.get(unit)
            if held is None or held[0] != epoch:
                held = (epoch, {})
                self._units[unit] = held
            if held[1].get(key) != value:
                held[1][key] = value
                self._generation += 1

    def unit_value(self, unit: str, spec: MetricSpec, labels: Mapping[str, str] | None = None) -> float:
        """A unit's current value of a ``cluster_state`` gauge (0 when never set in its term)."""
        key = self._key(spec, labels)
        with self._lock:
            held = self._units.get(unit)
            return 0.0 if held is None else held[1].get(key, 0.0)

    def unit_states(self) -> dict[str, tuple[int, tuple[Sample, ...]]]:
        """Per unit: the epoch of its term and its ``cluster_state`` values, in a stable order."""
        with self._lock:
            return {
                unit: (epoch, tuple(Sample(n, lb, v) for (n, lb), v in sorted(values.items())))
                for unit, (epoch, values) in sorted(self._units.items())
            }

    def retain_units(self, held: Mapping[str, int]) -> None:
        """Forget the values of every unit not held in the same term (a lost unit, or an ended term)."""
        with self._lock:
            for unit in [u for u, (epoch, _) in self._units.items() if held.get(u) != epoch]:
                del self._units[unit]
                self._generation += 1

    def cluster_state_samples(self) -> tuple[Sample, ...]:
        """This process's values of the ``cluster_state`` gauges, in a stable order (for publishing)."""
        with self._lock:
            return tuple(
                Sample(name, labels, self._values[(name, labels)])
                for name, labels in sorted(self._cluster_keys)
                if (name, labels) in self._values
            )

    def remove(self, spec: MetricSpec, labels: Mapping[str, str] | None = None) -> None:
        key = self._key(spec, labels)
        with self._lock:
            if self._values.pop(key, None) is not None:
                self._generation += 1
            self._removals += 1
            self._counter_keys.discard(key)
            self._cluster_keys.discard(key)
            self._flushed.pop(key, None)

    def value(self, spec: MetricSpec, labels: Mapping[str, str] | None = None) -> float:
        """Current value (0 when never touched); mainly for tests and health decisions."""
        with self._lock:
            return self._values.get(self._key(spec, labels), 0.0)

    def samples(self) -> tuple[Sample, ...]:
        with self._lock:
            return tuple(Sample(name, labels, value) for (name, labels), value in self._values.items())

    def gauge_samples(self) -> tuple[Sample, ...]:
        """Per-process gauges (health of this process's dependencies, build info, role): what this
        process serves from itself. Counters and ``cluster_state`` gauges are left out."""
        with self._lock:
            return tuple(
                Sample(name, labels, value)
                for (name, labels), value in self._values.items()
                if (name, labels) not in self._counter_keys and (name, labels) not in self._cluster_keys
            )

    def unflushed_counters(self) -> dict[SeriesKey, float]:
        """Every counter's increments not yet confirmed as stored (0 for fully flushed ones)."""
        with self._lock:
            return {key: self._values[key] - self._flushed.get(key, 0.0) for key in self._counter_keys}

    def take_counter_batch(self) -> CounterBatch | None:
        """The batch to flush now: the unconfirmed one again, else the new increments (None: nothing)."""
        with self._lock:
            if self._pending is not None:
                return self._pending
            deltas = {
                key: delta
                for key in self._counter_keys
                if (delta := self._values[key] - self._flushed.get(key, 0.0)) > 0
            }
            if not deltas:
                return None
            self._batch_seq += 1
            self._pending = CounterBatch(f"{self._batch_prefix}-{self._batch_seq}", deltas)
            return self._pending

    def confirm_counter_batch(self, batch: CounterBatch) -> None:
        """Record that the store holds ``batch``; its increments stop counting as unflushed."""
        with self._lock:
            if batch is not self._pending:
                msg = f"counter batch {batch.id} is not the pending batch"
                raise ValueError(msg)
            for key, delta in batch.deltas.items():
                if key in self._counter_keys:  # a counter removed meanwhile starts from zero again
                    self._flushed[key] = self._flushed.get(key, 0.0) + delta
            self._pending = None
            self._generation += 1

    def _key(self, spec: MetricSpec, labels: Mapping[str, str] | None) -> SeriesKey:
        given = (spec.name, tuple(labels.items()) if labels else ())
        key = self._keys.get(given)
        if key is None:
            sample = spec.sample(0.0, labels)  # validates the label set against the contract
            if len(self._keys) >= KEYS_MAX:
                self._keys.clear()
            key = self._keys[given] = (sample.name, sample.labels)
        return key


class CollectorMetrics(Protocol):
    """What a collector needs of the self-metrics: `SelfMetrics` itself, or one unit's `UnitMetrics`."""

    def inc(self, spec: MetricSpec, labels: Mapping[str, str] | None = None, amount: float = 1.0) -> None: ...

    def set(self, spec: MetricSpec, labels: Mapping[str, str] | None = None, value: float = 0.0) -> None: ...


class UnitMetrics:
    """`SelfMetrics` as one work unit's collectors see it: their ``cluster_state`` gauges are the unit's.

    Counters and per-process gauges go to the process as usual; a ``cluster_state`` gauge is kept
    for ``unit`` in the term ``epoch()`` returns (docs/scaling.md, "How to watch it").
    """

    def __init__(self, metrics: SelfMetrics, unit: str, epoch: Callable[[], int]) -> None:
        self._metrics = metrics
        self._unit = unit
        self._epoch = epoch

    def inc(self, spec: MetricSpec, labels: Mapping[str, str] | None = None, amount: float = 1.0) -> None:
        self._metrics.inc(spec, labels, amount)

    def set(self, spec: MetricSpec, labels: Mapping[str, str] | None = None, value: float = 0.0) -> None:
        if spec.cluster_state:
            self._metrics.set_unit(self._unit, self._epoch(), spec, labels, value)
        else:
            self._metrics.set(spec, labels, value)
