"""Where each periodic collection job of this process starts within its jitter window: longest first.

Jobs that share an interval (the orgs of single mode, the units a replica holds in sharded mode)
spread their starts over a jitter window (a few per cent of the interval) so they do not all ask
GitHub at once. Drawn at random, the start of the job that takes longest often lands in the middle
of the window, where most of the others run too; that job then runs in the crowd and the cycle ends
as late as it can. `Stagger` gives a job's start a place by the duration of its last tick: the
longest job none, the others spaced evenly behind it in order of duration (longest processing time
first; docs/scaling.md, "Cycle order: longest first"). A job with no finished tick yet draws its
place at random, as before.

It keeps this process's own timings only, a fact about the process and not collection state, and it
never runs, times out or cancels a job: `run_periodic` asks it for a place and tells it durations.
"""

from __future__ import annotations

import random


class Stagger:
    """The last tick's duration of each job, and each job's place in its interval's jitter window."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def record(self, name: str, interval: float, seconds: float) -> None:
        """Job ``name`` (every ``interval`` seconds) has just finished a tick that took ``seconds``."""
        self._last[name] = (interval, seconds)

    def forget(self, name: str) -> None:
        """Job ``name`` did not tick (its gate is closed: a unit another replica holds): it has no place."""
        self._last.pop(name, None)

    def place(self, name: str, rng: random.Random) -> float:
        """Where in its jitter window job ``name`` starts next, from 0 (at once) to below 1 (the end).

        Its rank among the jobs of the same interval by their last tick's duration, longest first
        (ties by name, so every call agrees), over how many there are; random until it has ticked.
        """
        last = self._last.get(name)
        if last is None:
            return rng.random()
        interval, seconds = last
        behind = sum(
            1
            for other, (every, took) in self._last.items()
            if every == interval and (took > seconds or (took == seconds and other < name))
        )
        peers = sum(1 for every, _ in self._last.values() if every == interval)
        return behind / peers
