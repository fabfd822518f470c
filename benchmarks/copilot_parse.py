"""Copilot report parse path: records/s and peak memory of stream-parse + map on large users reports.

Run: ``.venv/bin/python -m benchmarks copilot_parse`` (or ``python -m benchmarks.copilot_parse``). The
report files are generated with the simulator's `CopilotDataset` and written to a temporary directory
before anything is timed; the timed part reads them in 256 KiB chunks, as a download delivers them.
Throughput is CPU time (best of three) without tracemalloc (it slows Python down); peak memory is taken in
a further pass under tracemalloc. A second table covers users reports with every breakdown on, at about
10k and 100k records: adding the records (parse + map) and building the series are timed apart, median
of three runs, and the peak memory is set against the series the report produces; each layout of the
breakdown sums this install has (`copilot_sums`: the C loop's block when built, and pure Python) gets
its rows, the layouts taking turns. With ``--breakdowns``
(``python -m benchmarks.copilot_parse --breakdowns``) only that table runs (about a minute). Each table
is framed by the machine's load average, as CPU seconds still move with contention on a shared machine.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import date
from pathlib import Path

from github_stats_exporter.scrape import copilot_sums
from github_stats_exporter.scrape.copilot_map import LabelPolicy, MapOptions, ReportLabels, ReportMapper
from github_stats_exporter.scrape.copilot_parse import ReportParser
from github_stats_exporter.scrape.copilot_sums import Layout
from github_stats_exporter.simulator.copilot_data import CopilotDataset

CHUNK = 256 * 1024
END_DAY = date(2026, 5, 26)
SIZES = (2_000, 8_000)
BREAKDOWN_SIZES = (700, 7_000)  # users: about 10k and 100k records
ALL_BREAKDOWNS = MapOptions(breakdowns=frozenset({"ide", "feature", "language", "model"}))
LAYOUTS = [layout for layout in (copilot_sums.BLOCK, copilot_sums.PYTHON) if layout is not None]
"""The breakdown sums' layouts this install has (`copilot_sums`): the C loop's when built, and Python's."""


def write_report(users: int, directory: Path) -> tuple[Path, int]:
    """A users-28-day report of ``users`` members as one NDJSON file; returns (path, rows)."""
    members = [f"user{i:05d}" for i in range(users)]
    dataset = CopilotDataset(11, {"bench": members}, None, date(2026, 1, 1))
    path = directory / f"users-{users}.ndjson"
    rows = 0
    with path.open("wb") as fh:
        for row in dataset.iter_report_rows("org", "bench", "users", "28d", END_DAY):
            fh.write(json.dumps(row, separators=(",", ":")).encode() + b"\n")
            rows += 1
    return path, rows


def parse_only(path: Path, repeat: int) -> int:
    parser = ReportParser(breakdowns=False, users=True)
    count = 0
    for _ in range(repeat):
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                for _record in parser.feed(chunk):
                    count += 1
        count += sum(1 for _ in parser.finish())
    return count


def feed(path: Path, repeat: int, options: MapOptions, layout: Layout = copilot_sums.DEFAULT) -> ReportMapper:
    """Parse ``path`` (``repeat`` times over) into one mapper, chunk by chunk as a download arrives."""
    windows: dict[str, str | None] = {"28d": None, "1d": END_DAY.isoformat()}
    mapper = ReportMapper(ReportLabels("bench", "users"), options, windows, layout)
    parser = ReportParser(breakdowns=bool(options.breakdowns), users=True)
    for _ in range(repeat):
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                mapper.add_all(parser.feed(chunk))
        mapper.add_all(parser.finish())
    assert parser.dropped == 0
    return mapper


def parse_and_map(path: Path, repeat: int, options: MapOptions) -> int:
    mapper = feed(path, repeat, options)
    return len(mapper.samples("28d")) + len(mapper.samples("1d"))


def breakdown_pass(path: Path, repeat: int, layout: Layout) -> tuple[float, float, int]:
    """(CPU s adding the records, CPU s building both windows' series, series) with every breakdown on."""
    gc.collect()
    started = time.process_time()
    mapper = feed(path, repeat, ALL_BREAKDOWNS, layout)
    added = time.process_time()
    series = len(mapper.samples("28d")) + len(mapper.samples("1d"))
    return added - started, time.process_time() - added, series


def breakdown_peak(path: Path, repeat: int, layout: Layout) -> float:
    """tracemalloc's peak MiB of one pass, the built series included."""
    gc.collect()
    tracemalloc.start()
    breakdown_pass(path, repeat, layout)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def breakdown_table(directory: Path) -> None:
    """Users reports of ~10k and ~100k records with every breakdown on: median of three runs."""
    print()
    print(f"load average before: {load()}")
    print(
        "| users | records | pass | sums layout | parse + map CPU-s | parse + map records/CPU-s | series build CPU-s | "
        "parse + map + series records/CPU-s | peak MiB | series | peak KiB per 1k series |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for users in BREAKDOWN_SIZES:
        path, rows = write_report(users, directory)
        for label, repeat in (("all breakdowns", 1), ("all breakdowns, file twice", 2)):
            # The layouts take turns, so that both see the same load on a shared machine.
            passes: dict[str, list[tuple[float, float, int]]] = {layout.name: [] for layout in LAYOUTS}
            for _ in range(3):
                for layout in LAYOUTS:
                    passes[layout.name].append(breakdown_pass(path, repeat, layout))
            for layout in LAYOUTS:
                runs = passes[layout.name]
                mapped = statistics.median(r[0] for r in runs)
                built = statistics.median(r[1] for r in runs)
                total = statistics.median(r[0] + r[1] for r in runs)
                series = runs[0][2]
                peak = breakdown_peak(path, repeat, layout)
                records = rows * repeat
                print(
                    f"| {users} | {records} | {label} | {layout.name} | {mapped:.3f} | {records / mapped:,.0f} | "
                    f"{built:.2f} | {records / total:,.0f} | {peak:.1f} | {series} | "
                    f"{peak * 2**10 / series * 1000:.0f} |",
                    flush=True,
                )
        path.unlink()
    print(f"load average after: {load()}")


def load() -> str:
    """The 1, 5 and 15-minute load averages, as `uptime` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def measure(run: Callable[[], int]) -> tuple[float, int, float]:
    """(CPU seconds, result, peak MiB): timed without tracemalloc, then once more under it for the peak.

    CPU time of this process, best of three, so other load on a shared machine does not distort the rate.
    """
    gc.collect()
    timings = []
    for _ in range(3):
        started = time.process_time()
        result = run()
        timings.append(time.process_time() - started)
    seconds = min(timings)
    gc.collect()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, result, peak / 2**20


def main(*, breakdowns_only: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="copilot-bench-") as tmp:
        breakdown_table(Path(tmp))
        if breakdowns_only:
            return
        print()
        print(f"load average before: {load()}")
        files = []
        for users in SIZES:
            started = time.perf_counter()
            path, rows = write_report(users, Path(tmp))
            size = path.stat().st_size / 2**20
            print(
                f"generated {users} users: {rows} rows, {size:.1f} MiB in {time.perf_counter() - started:.1f}s"
            )
            files.append((users, path, rows, size))
        print()
        print("| users | records | file MiB | pass | records/CPU-s | MB/CPU-s | peak MiB | series |")
        print("|---|---|---|---|---|---|---|---|")
        for users, path, rows, size in files:
            for label, repeat, run in (
                ("parse only", 1, lambda p=path: parse_only(p, 1)),
                ("parse only, file twice", 2, lambda p=path: parse_only(p, 2)),
                ("parse + map", 1, lambda p=path: parse_and_map(p, 1, MapOptions())),
                ("parse + map, file twice", 2, lambda p=path: parse_and_map(p, 2, MapOptions())),
                (
                    "parse + map, hashed labels",
                    1,
                    lambda p=path: parse_and_map(p, 1, MapOptions(labels=LabelPolicy("hashed", b"k" * 32))),
                ),
                ("parse + map, all breakdowns", 1, lambda p=path: parse_and_map(p, 1, ALL_BREAKDOWNS)),
            ):
                seconds, result, peak = measure(run)
                records = rows * repeat
                series = "" if label.startswith("parse only") else str(result)
                print(
                    f"| {users} | {records} | {size * repeat:.1f} | {label} | {records / seconds:,.0f} | "
                    f"{size * repeat / seconds:.0f} | {peak:.1f} | {series} |",
                    flush=True,
                )
        print(f"load average after: {load()}")


if __name__ == "__main__":
    main(breakdowns_only="--breakdowns" in sys.argv[1:])
