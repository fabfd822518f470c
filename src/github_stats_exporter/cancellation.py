"""Cancellation that a client library swallowed: the one check every long-running loop makes.

redis-py can turn a cancellation that lands mid-command into an ordinary return or error (seen while
Redis restarts, and at shutdown). The task still counts the request in ``cancelling()``, but no
``CancelledError`` is delivered again, so a loop that goes on to its next round runs forever and the
task group that owns it never finishes: the process does not exit on SIGTERM. Every loop that calls
the store or the queue checks here after each round. This module only raises; it never cancels.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelling() -> None:
    """Raise ``CancelledError`` when the current task was asked to cancel and the request was swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
