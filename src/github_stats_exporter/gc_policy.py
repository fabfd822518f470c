"""The cyclic garbage collector's thresholds for a long-running ``serve`` process.

A serving process keeps a large, long-lived heap (the page, the collectors' state) and makes many
short-lived objects per GitHub request. With CPython's default young threshold (700 net allocations)
the objects of requests in flight and of a running cycle survive two young collections and reach the
oldest generation, where they die; once enough have, a full collection scans the whole heap and
stops the event loop while every request in flight waits. A higher young threshold lets them die
young: at 4 orgs x 1,000 repositories, 13 full collections in six minutes became 1, and the
collector's own time fell from 1.6 to 0.5 CPU seconds (docs/benchmarks.md, "Fewer objects for the
garbage collector"). The cost is up to that many more objects alive before a young collection.

This module only sets thresholds; it never collects, freezes or disables the collector.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net allocations between two collections of the youngest generation (CPython's default is 700)."""


def apply() -> tuple[int, int, int]:
    """Raise the youngest generation's threshold, keep the older ones; returns the thresholds before."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, before[1], before[2])
    return before
