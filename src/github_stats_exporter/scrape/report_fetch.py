"""The download loop every Copilot report reader shares: retry with fresh links until the files are read.

`read_with_fresh_links` runs the caller's ``read(links)`` (download and decode every file of a
report). A transient `DownloadError` waits a full-jitter backoff and retries with freshly signed links;
an expired link gets one free retry with fresh links (no wait, no attempt used); what is left is
raised to the caller, which turns it into its own error. Every retry is counted by the `Attempts`.
It must not know what the files hold, count downloads or talk to the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from github_stats_exporter.github.copilot import DownloadError, LinkExpired, ReportLinks
from github_stats_exporter.retry import Attempts

T = TypeVar("T")


async def read_with_fresh_links(
    links: ReportLinks,
    read: Callable[[ReportLinks], Awaitable[T]],
    refetch: Callable[[], Awaitable[ReportLinks | None]],
    attempts: Attempts,
) -> tuple[T, ReportLinks] | None:
    """``read(links)`` and the links it succeeded with; None when a refetch found no report any more.

    Raises the last `DownloadError` when the attempts are used up, or a `LinkExpired` when fresh
    links expired too.
    """
    refetched = False
    while True:
        try:
            return await read(links), links
        except LinkExpired as exc:
            if refetched:
                raise
            refetched = True  # fresh links cure an expired signature at once
            attempts.again(exc.reason)
        except DownloadError as exc:
            if not await attempts.backoff(exc, exc.reason):
                raise
        fresh = await refetch()
        if fresh is None:
            return None
        links = fresh
