"""``serve`` under a cProfile switched by signals, for `serve_cycle_cpu`: SIGUSR1 starts it, SIGUSR2 dumps it.

Run as ``python -m benchmarks._profiled_serve PROFILE_PATH serve --config ...``: the command line after
the profile path is the exporter's own. The profiler runs only between the two signals (the steady
cycle the benchmark wants to see), so the warm-up does not drown it. It changes nothing in ``serve``.
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from types import FrameType

from github_stats_exporter.cli import main


def run(argv: list[str]) -> int:
    path, args = argv[0], argv[1:]
    # CPU time, not wall time: a coroutine waiting on a socket must not count as cost.
    profile = cProfile.Profile(time.process_time)

    def start(signum: int, frame: FrameType | None) -> None:
        profile.enable()

    def dump(signum: int, frame: FrameType | None) -> None:
        profile.disable()
        profile.dump_stats(path)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, dump)
    return main(args)


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
