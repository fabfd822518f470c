"""Merged run lines → an OpenMetrics file with timestamps that ``promtool tsdb create-blocks-from`` reads.

Each family gets its TYPE/HELP header once, before its samples; a point repeated for the same series
and timestamp is written once; the file ends with ``# EOF``. It is written beside the target and
renamed into place, so a reader never sees half a file. It must not fetch, sort or know reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from github_stats_exporter.exposition.encoder import EOF, family_header
from github_stats_exporter.exposition.negotiation import Format
from github_stats_exporter.metrics import FAMILIES, MetricSpec

_BY_SAMPLE_NAME: dict[str, MetricSpec] = {spec.sample_name: spec for spec in FAMILIES.values()}


@dataclass(frozen=True, slots=True)
class Written:
    """What the file holds."""

    families: int
    series: int
    samples: int
    bytes: int


def _sample_name(series: str) -> str:
    brace = series.find("{")
    return series if brace < 0 else series[:brace]


PROGRESS_EVERY = 10_000


def write_openmetrics(
    lines: Iterable[str], path: Path, on_progress: Callable[[int], object] | None = None
) -> Written:
    """Write ``lines`` (sorted run lines) to ``path`` as OpenMetrics text with timestamps.

    ``on_progress(n)`` hears of every `PROGRESS_EVERY` samples written.
    """
    tmp = path.with_name(path.name + ".tmp")
    families = series_count = samples = 0
    family = last_series = last_point = ""
    with tmp.open("wb") as out:
        for line in lines:
            series, stamp, value = line.rstrip("\n").split("\t")
            point = series + "\t" + stamp
            if point == last_point:
                continue  # the same point twice (a rerun overlapping a run): keep the first
            last_point = point
            name = _sample_name(series)
            if name != family:
                family = name
                spec = _BY_SAMPLE_NAME.get(name)
                if spec is not None:
                    out.write(family_header(spec, Format.OPENMETRICS))
                families += 1
            if series != last_series:
                last_series = series
                series_count += 1
            out.write(f"{series} {value} {int(stamp)}\n".encode())
            samples += 1
            if on_progress is not None and samples % PROGRESS_EVERY == 0:
                on_progress(PROGRESS_EVERY)
        out.write(EOF)
        out.flush()
        os.fsync(out.fileno())
        size = out.tell()
    tmp.replace(path)
    return Written(families, series_count, samples, size)
