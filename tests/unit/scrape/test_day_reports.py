"""DayReports: one day's report as rows, with fresh links after an expired or failed download."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import msgspec
import pytest

from github_stats_exporter import metrics
from github_stats_exporter.github.copilot import (
    DownloadError,
    LinkExpired,
    ReportDownloader,
    ReportLinks,
    ReportRef,
)
from github_stats_exporter.github.errors import Forbidden
from github_stats_exporter.retry import Retrier, RetryPolicy
from github_stats_exporter.scrape.day_reports import DayReportError, DayReports
from github_stats_exporter.selfmetrics import SelfMetrics

REF = ReportRef("org", "acme", "user_teams")
DAY = "2026-05-20"
LABELS = {"org": "acme", "scope": "teams"}


class Row(msgspec.Struct, kw_only=True):
    user_id: int | None = None


@dataclass
class Script:
    """Link answers (None = 204, an exception is raised) and file answers, each popped in turn."""

    link_answers: list[object]
    files: list[bytes | Exception] = field(default_factory=list)
    link_calls: int = 0

    async def fetch_links(self, ref: ReportRef, window: str, day: str | None = None) -> ReportLinks | None:
        self.link_calls += 1
        answer = self.link_answers.pop(0) if len(self.link_answers) > 1 else self.link_answers[0]
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return None
        return ReportLinks(ref, "1d", ("https://copilot-reports.github.com/f",), DAY, DAY)

    async def fetch(self, link: str, consume: Callable[[bytes], object]) -> int:
        answer = self.files.pop(0)
        if isinstance(answer, Exception):
            raise answer
        consume(answer)
        return len(answer)


def reader(script: Script, self_metrics: SelfMetrics) -> DayReports:
    async def no_sleep(_: float) -> None:
        return None

    retrier = Retrier(
        RetryPolicy(attempts=2, initial_backoff=0.0), org="acme", metrics=self_metrics, sleep=no_sleep
    )
    return DayReports(script, cast(ReportDownloader, script), retrier, self_metrics, LABELS)


async def test_a_204_day_has_no_rows_and_downloads_nothing() -> None:
    """No content: an empty list, one link call."""
    script = Script([None])
    assert await reader(script, SelfMetrics()).rows(REF, DAY, Row) == []
    assert script.link_calls == 1


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(LinkExpired("gone", status=403), id="expired"),
        pytest.param(DownloadError("boom", status=500, transient=True), id="transient"),
        pytest.param(b'{"user_id": 9}\n{"user_id": 1', id="truncated"),
    ],
)
async def test_a_failed_download_is_retried_with_fresh_links(failure: bytes | Exception) -> None:
    """Expired, transient or cut-off files: fresh links and a second download give the rows."""
    script = Script(["links"], [failure, b'{"user_id": 1}\n{"user_id": 2}\n'])
    self_metrics = SelfMetrics()
    assert await reader(script, self_metrics).rows(REF, DAY, Row) == [Row(user_id=1), Row(user_id=2)]
    assert script.link_calls == 2
    assert self_metrics.value(metrics.COPILOT_REPORT_DOWNLOADS, {**LABELS, "result": "success"}) == 1


async def test_a_permanent_download_failure_raises_download_error() -> None:
    """A refused host is not retried: DayReportError with result download_error."""
    script = Script(["links"], [DownloadError("refused", status=None, transient=False)])
    with pytest.raises(DayReportError) as caught:
        await reader(script, SelfMetrics()).rows(REF, DAY, Row)
    assert caught.value.result == "download_error"
    assert script.link_calls == 1


async def test_a_link_error_raises_fetch_error() -> None:
    """A 403 on the link call: DayReportError with result fetch_error."""
    script = Script([Forbidden(403, "no", "copilot_report_link", "/p")])
    with pytest.raises(DayReportError) as caught:
        await reader(script, SelfMetrics()).rows(REF, DAY, Row)
    assert caught.value.result == "fetch_error"
