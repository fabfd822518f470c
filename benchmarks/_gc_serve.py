"""``serve`` with its full garbage collections written down, for `sharded_collection`.

Run as ``python -m benchmarks._gc_serve LOG_PATH serve --config ...``: the command line after the log
path is the exporter's own. Every generation-2 collection appends one line to LOG_PATH: the
``time.monotonic()`` at its end (the same clock in every process of the machine) and its seconds.
It changes nothing in ``serve`` but this ``gc.callbacks`` hook.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from typing import Any

from github_stats_exporter.cli import main


class FullCollections:
    """Times every generation-2 collection through ``gc.callbacks``: (monotonic end, seconds) each.

    With a ``log`` path each one is also appended to that file as a line (for another process to read).
    """

    def __init__(self, log: Path | None = None) -> None:
        self.pauses: list[tuple[float, float]] = []
        self._log = log
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.monotonic()
            return
        now = time.monotonic()
        self.pauses.append((now, now - self._started))
        if self._log is not None:
            with self._log.open("a") as log:
                log.write(f"{now:.6f} {now - self._started:.6f}\n")


def read(path: Path) -> list[tuple[float, float]]:
    """The (monotonic end, seconds) pairs a `FullCollections` logged; none when it logged nothing."""
    if not path.exists():
        return []
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return [(float(end), float(seconds)) for end, seconds in pairs]


def run(argv: list[str]) -> int:
    gc.callbacks.append(FullCollections(Path(argv[0])))
    return main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
