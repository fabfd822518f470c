"""Value types shared by every layer: samples, snapshots, snapshot keys.

Pure data only. This module must not import anything else from the package and must not do I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What a replica does: ``leader`` runs scheduled collection, ``follower`` serves and backfills;
    ``starting`` until the first role decision."""

    STARTING = "starting"
    LEADER = "leader"
    FOLLOWER = "follower"


Labels = tuple[tuple[str, str], ...]
"""Label pairs in the order the metric contract declares them (not sorted alphabetically)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One exposition line: a metric family name, its labels and a value.

    ``name`` is the *family* name from the metric contract (`metrics.py`); for counters the
    renderer appends ``_total`` itself, so a counter sample never carries the suffix here.
    """

    name: str
    labels: Labels
    value: float

    def label(self, key: str) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class SnapshotKey:
    """Identity of one collection unit, e.g. ``activity/acme/widgets`` or ``copilot/acme/org/28d``.

    ``kind`` groups snapshots by producer; ``parts`` identify the unit inside it.
    """

    kind: str
    parts: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "/".join((self.kind, *self.parts))

    @classmethod
    def parse(cls, text: str) -> SnapshotKey:
        kind, *parts = text.split("/")
        if not kind:
            msg = f"snapshot key {text!r} has an empty kind"
            raise ValueError(msg)
        return cls(kind, tuple(parts))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The complete set of series one collection unit owns, replaced atomically in the store.

    ``version`` is assigned by the store on write (monotonic per key); producers leave it 0.
    ``produced_at`` is the Unix time the producer finished collecting.
    """

    key: SnapshotKey
    samples: tuple[Sample, ...]
    produced_at: float
    version: int = 0
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def format_value(value: float) -> str:
    """Render a sample value the way both exposition formats accept it.

    Integral floats print without a fraction (``3`` not ``3.0``) so golden files stay stable.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


@dataclass(frozen=True, slots=True)
class MissedWindow:
    """Work a collector could not finish after retries, recorded for backfill.

    ``scope`` is ``"org"`` or ``"enterprise"``; ``scope_id`` the org login or enterprise slug;
    ``target`` the repository name for activity/LOC work or the report type (``organization`` /
    ``users`` / ``enterprise``) for Copilot work. ``start``/``end`` are Unix times for activity
    windows; Copilot windows use ``start_day``/``end_day`` (``YYYY-MM-DD``, inclusive) instead.
    ``reason`` is one of the documented backfill reasons (e.g. ``activity_pulls_failed``,
    ``copilot_report_download_error``).
    """

    scope: str
    scope_id: str
    target: str
    reason: str
    start: float = 0.0
    end: float = 0.0
    start_day: str = ""
    end_day: str = ""
