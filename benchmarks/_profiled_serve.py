"""``serve`` under a cProfile switched by signals, for `serve_cycle_cpu`: SIGUSR1 starts it, SIGUSR2 dumps it.

Run as ``python -m benchmarks._profiled_serve PROFILE_PATH serve --config ...``: the command line after
the profile path is the exporter's own. The profiler runs only between the two signals (the steady
cycle the benchmark wants to see), so the warm-up does not drown it. Before it starts, SIGUSR1 also
writes a census of the process's GC-tracked objects to ``PROFILE_PATH.census`` (`census`). It changes
nothing in ``serve``.
"""

from __future__ import annotations

import cProfile
import gc
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType

from github_stats_exporter.cli import main


def census(path: Path, top: int = 25) -> None:
    """Write the GC-tracked objects after a full collection: their number, the time of one more full
    collection (what every full collection of this heap costs), and the most common types."""
    gc.collect()
    objects = gc.get_objects()
    types = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
    total = len(objects)
    del objects
    started = time.perf_counter()
    gc.collect()
    seconds = time.perf_counter() - started
    lines = [f"{total} GC-tracked objects; a full collection of them took {seconds:.3f} s"]
    lines += [f"{count:9d} {name}" for name, count in types.most_common(top)]
    path.write_text("\n".join(lines) + "\n")


def run(argv: list[str]) -> int:
    path, args = argv[0], argv[1:]
    # CPU time, not wall time: a coroutine waiting on a socket must not count as cost.
    profile = cProfile.Profile(time.process_time)

    def start(signum: int, frame: FrameType | None) -> None:
        census(Path(path + ".census"))
        profile.enable()

    def dump(signum: int, frame: FrameType | None) -> None:
        profile.disable()
        profile.dump_stats(path)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, dump)
    return main(args)


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
