"""Sharded collection: each replica's part of the collector state, and how the parts merge into one.

In ``leader_election.mode: sharded`` every replica collects the units it holds, so every replica
measures part of the ``cluster_state`` gauges and of the collection health. Each replica writes its
part (`StatePart`) as a checkpoint with a TTL, so the part of a replica that died disappears by itself;
the leader merges the live parts (`merge_parts`) into the one ``exporter_state`` snapshot every replica
serves (docs/scaling.md, "How to watch it").

Several replicas may report the same series: the gauges are labelled by org, and an org's shards run
on several replicas (or two shards on one replica). So a part keeps the values each work unit's
collectors measured apart (`UnitState`, with the epoch of the term they were measured in). The
merge takes each unit's values once, from the part with the newest term of that unit (a unit that
just moved is not counted by its old holder's part too), then keeps exactly one sample per series
over every unit and part: families that count the repositories of a shard add up (`SUMMED`), every
other family takes the largest value (latest timestamp, slowest cycle, fullest queue). ``gh_exporter_collection_health`` is
derived from the merged health, a component being healthy only when it is healthy on every replica
that reports it.

This module is pure: it never talks to the store and never reads the clock.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from github_stats_exporter.metrics import (
    ACTIVITY_LEDGER_EVENTS,
    ACTIVITY_REPOS_FAILING,
    COLLECTION_HEALTH,
    FAMILIES,
    LOC_REPOS_FAILED,
    LOC_REPOS_WARMING,
)
from github_stats_exporter.model import Labels, Sample

PART_PREFIX = "exporter_state_part/"
"""Checkpoint name prefix of the parts; the replica's identity follows."""

SUMMED: frozenset[str] = frozenset(
    {
        ACTIVITY_REPOS_FAILING.name,
        ACTIVITY_LEDGER_EVENTS.name,
        LOC_REPOS_WARMING.name,
        LOC_REPOS_FAILED.name,
    }
)
"""Families whose value is a count over the repositories a shard collects (each shard counts its own).
``gh_exporter_activity_repos`` is not one of them: every shard reads the whole org's listing."""

Health = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class UnitState:
    """What one work unit's collectors measured in the holder's term ``epoch``."""

    epoch: int
    samples: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class StatePart:
    """One replica's collector state: its ``cluster_state`` samples (``units``: those measured per work
    unit) and measured collection components."""

    replica: str
    produced_at: float
    samples: tuple[Sample, ...]
    health: Mapping[str, Mapping[str, Any]]
    units: Mapping[str, UnitState] = dataclasses.field(default_factory=dict)

    def encode(self) -> bytes:
        """The checkpoint value of this part."""
        return json.dumps(
            {
                "replica": self.replica,
                "produced_at": self.produced_at,
                "samples": _encode_samples(self.samples),
                "health": self.health,
                "units": {
                    unit: {"epoch": state.epoch, "samples": _encode_samples(state.samples)}
                    for unit, state in self.units.items()
                },
            },
            sort_keys=True,
        ).encode()


def _encode_samples(samples: Iterable[Sample]) -> list[list[Any]]:
    return [[s.name, list(map(list, s.labels)), s.value] for s in samples]


def _decode_samples(raw: Any) -> tuple[Sample, ...]:
    return tuple(
        Sample(str(name), tuple((str(k), str(v)) for k, v in labels), float(value))
        for name, labels, value in raw
    )


class PartError(ValueError):
    """A stored part this version cannot read (it is left out of the merge)."""


def decode_part(raw: bytes) -> StatePart:
    """Read a part written by `StatePart.encode`; raises `PartError` on anything else."""
    try:
        data = json.loads(raw)
        samples = _decode_samples(data["samples"])
        health = {str(k): dict(v) for k, v in data["health"].items() if isinstance(v, dict)}
        # A part written before units were kept apart has none (all its values are in ``samples``).
        units = {
            str(unit): UnitState(int(state["epoch"]), _decode_samples(state["samples"]))
            for unit, state in data.get("units", {}).items()
        }
        return StatePart(str(data["replica"]), float(data["produced_at"]), samples, health, units)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        msg = f"unreadable collector-state part: {type(exc).__name__}: {exc}"
        raise PartError(msg) from exc


@dataclass(frozen=True, slots=True)
class Merged:
    """The cluster's collector state: one sample per series, one verdict per collection component."""

    samples: tuple[Sample, ...]
    health: dict[str, dict[str, Any]]


def merge_parts(parts: Iterable[StatePart], *, now: float, ttl_seconds: float) -> Merged:
    """Merge the parts written within ``ttl_seconds`` before ``now``; the result does not depend on order."""
    live = sorted(
        (p for p in parts if now - p.produced_at <= ttl_seconds), key=lambda p: (p.replica, p.produced_at)
    )
    # Each unit once: from the part with its newest term (then the newest part, then the replica name).
    newest: dict[str, tuple[tuple[int, float, str], tuple[Sample, ...]]] = {}
    for part in live:
        for unit, unit_state in part.units.items():
            rank = (unit_state.epoch, part.produced_at, part.replica)
            if unit not in newest or rank > newest[unit][0]:
                newest[unit] = (rank, unit_state.samples)
    measured = [s for part in live for s in part.samples]
    measured += [s for _, (_, samples) in sorted(newest.items()) for s in samples]
    values: dict[tuple[str, Labels], float] = {}
    for sample in measured:
        spec = FAMILIES.get(sample.name)
        if spec is None or not spec.cluster_state or sample.name == COLLECTION_HEALTH.name:
            continue
        key = (sample.name, sample.labels)
        if key not in values:
            values[key] = sample.value
        elif sample.name in SUMMED:
            values[key] += sample.value
        else:
            values[key] = max(values[key], sample.value)
    health = _merge_health(live)
    for component, state in health.items():
        values[(COLLECTION_HEALTH.name, (("component", component),))] = 1.0 if state["healthy"] else 0.0
    samples = tuple(Sample(name, labels, value) for (name, labels), value in sorted(values.items()))
    return Merged(samples, health)


def _merge_health(parts: list[StatePart]) -> dict[str, dict[str, Any]]:
    """A component is healthy when every replica reporting it is; failing details name the replica."""
    merged: dict[str, dict[str, Any]] = {}
    for part in parts:
        for component, state in sorted(part.health.items()):
            healthy = bool(state.get("healthy", False))
            detail = str(state.get("detail", ""))
            current = merged.setdefault(
                component,
                {"healthy": True, "detail": "", "last_success_unixtime": None, "last_failure_unixtime": None},
            )
            if not healthy:
                current["healthy"] = False
                failing = f"{part.replica}: {detail}" if detail else part.replica
                current["detail"] = f"{current['detail']}; {failing}" if current["detail"] else failing
            for field in ("last_success_unixtime", "last_failure_unixtime"):
                value = state.get(field)
                if isinstance(value, int | float) and (current[field] is None or value > current[field]):
                    current[field] = float(value)
    for state in merged.values():
        state["detail"] = state["detail"][:500]
    return merged
