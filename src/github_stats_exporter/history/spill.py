"""Runs on disk: one task's samples as sorted lines, and the k-way merge of many runs into one stream.

A run line is ``<series>\\t<timestamp, zero-padded>\\t<value>``, where ``<series>`` is the exposition
text of the sample name and labels. Sorted as strings, lines of one family are contiguous and each
series' points are together, oldest first: what OpenMetrics wants, without holding more than one task
in memory. More runs than the fan-in are merged in passes. It must not know reports or the output file.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from github_stats_exporter.exposition.encoder import encode_samples
from github_stats_exporter.model import Sample

FAN_IN = 64
"""Runs open at once while merging (each holds one buffered file handle)."""
_STAMP_DIGITS = 12


def run_lines(points: Iterable[tuple[int, Sample]]) -> list[str]:
    """The sorted run lines of (timestamp, sample) points."""
    by_stamp: dict[int, list[Sample]] = {}
    for stamp, sample in points:
        by_stamp.setdefault(stamp, []).append(sample)
    lines: list[str] = []
    for stamp, samples in by_stamp.items():
        encoded = encode_samples(samples, hashed=False)
        tail = f"\t{stamp:0{_STAMP_DIGITS}d}\t"
        for fragment in encoded.fragments.values():
            for line in str(fragment, "utf-8").splitlines():
                series, _, value = line.rpartition(" ")
                lines.append(series + tail + value + "\n")
    lines.sort()
    return lines


def write_run(path: Path, lines: Iterable[str]) -> None:
    """Write a run atomically (a crash leaves no half run behind)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        out.writelines(lines)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)


@contextlib.contextmanager
def merged(runs: list[Path], scratch: Path, fan_in: int = FAN_IN) -> Iterator[Iterator[str]]:
    """All lines of ``runs`` in sorted order; intermediate runs go to ``scratch`` and are removed after."""
    scratch.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    level = list(runs)
    try:
        while len(level) > fan_in:
            nxt: list[Path] = []
            for i in range(0, len(level), fan_in):
                part = scratch / f"merge-{len(made)}.run"
                with contextlib.ExitStack() as stack:
                    files = [stack.enter_context(p.open(encoding="utf-8")) for p in level[i : i + fan_in]]
                    write_run(part, heapq.merge(*files))
                made.append(part)
                nxt.append(part)
            level = nxt
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(p.open(encoding="utf-8")) for p in level]
            yield heapq.merge(*files)
    finally:
        for part in made:
            part.unlink(missing_ok=True)
