"""A scripted Copilot link source and downloader for the day-by-day collector tests (no server).

`Script` answers the 28-day call with a two-day window (`START`, `END`), each 1-day call with a link to
the file scripted for (report type, day) — a missing entry is a 204, an exception is raised by the link
call — and serves those files as the downloader. It records every link call in ``calls``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from github_stats_exporter.github.copilot import ReportLinks, ReportRef

START, END = "2026-05-25", "2026-05-26"


def ndjson(*rows: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@dataclass
class Script:
    """Files per (report, day); a missing entry answers 204, an exception is raised by the link call."""

    files: dict[tuple[str, str], bytes | Exception]
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)

    async def fetch_links(self, ref: ReportRef, window: str, day: str | None = None) -> ReportLinks | None:
        self.calls.append((ref.report_type, window, day))
        if window == "28d":
            return ReportLinks(ref, "28d", (), START, END)
        answer = self.files.get((ref.report_type, str(day)))
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return None
        return ReportLinks(
            ref, "1d", (f"https://copilot-reports.github.com/{ref.report_type}/{day}",), str(day), str(day)
        )

    async def fetch(self, link: str, consume: Callable[[bytes], object]) -> int:
        report, day = link.rsplit("/", 2)[-2:]
        body = self.files[report, day]
        assert isinstance(body, bytes)
        consume(body)
        return len(body)
