"""One day's Copilot report as decoded rows: the 1-day link call, the downloads, retries and self-metrics.

`DayReports.rows(ref, day, row_type)` asks for the 1-day report's signed links (a 204 means no rows),
downloads every file, decodes each line into ``row_type`` with `RowParser` and returns the rows. A
transient download failure retries with fresh links (full-jitter backoff from the `Retrier`), an expired
link once at no cost; what is left raises `DayReportError` with the run ``result`` label
(``fetch_error`` or ``download_error``). Downloads, decoded rows and undecodable lines are counted in
the Copilot collector self-metrics under the caller's labels. Shared by the collectors that keep one
file per day (teams; repositories later); it must not decide what a row means or store anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

from github_stats_exporter import metrics
from github_stats_exporter.errors import ExporterError
from github_stats_exporter.github.copilot import (
    DownloadError,
    LinkExpired,
    ReportDownloader,
    ReportLinks,
    ReportRef,
    Window,
)
from github_stats_exporter.github.errors import GitHubError
from github_stats_exporter.retry import Retrier
from github_stats_exporter.scrape.report_fetch import read_with_fresh_links
from github_stats_exporter.scrape.report_rows import RowParser
from github_stats_exporter.selfmetrics import CollectorMetrics
from github_stats_exporter.tracing import NO_TRACING, Tracing

R = TypeVar("R")
DOWNLOAD_ENDPOINT = "copilot_report_download"
"""The `endpoint` label of download retries in ``gh_exporter_github_retries_total``."""
DROP_PARSE_ERROR = "parse_error"


class LinkSource(Protocol):
    """Where signed report links come from (`CopilotReportsApi` in production)."""

    async def fetch_links(self, ref: ReportRef, window: Window, day: str | None = None) -> ReportLinks | None:
        """Links of the 28-day ``latest`` report, or of the 1-day report for ``day`` (None on 204)."""
        ...


class DayReportError(ExporterError):
    """A day's report could not be read; ``result`` is the run outcome label."""

    def __init__(self, message: str, *, result: str) -> None:
        self.result = result
        super().__init__(message)


class DayReports:
    """Reads 1-day reports of one scope; ``labels`` (``org``, ``scope``) label its self-metrics."""

    def __init__(
        self,
        links: LinkSource,
        downloader: ReportDownloader,
        retrier: Retrier,
        self_metrics: CollectorMetrics,
        labels: Mapping[str, str],
        *,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._api = links
        self._tracing = tracing
        self._downloader = downloader
        self._retrier = retrier
        self._metrics = self_metrics
        self._labels = dict(labels)
        self._span_labels = {f"copilot.{k}" if k != "org" else "github.org": v for k, v in labels.items()}

    async def rows(self, ref: ReportRef, day: str, row_type: type[R]) -> list[R]:
        """The rows of ``ref``'s 1-day report of ``day`` ([] on 204); raises `DayReportError`."""
        rows = await self.day(ref, day, row_type)
        return [] if rows is None else rows

    async def day(self, ref: ReportRef, day: str, row_type: type[R]) -> list[R] | None:
        """Like `rows`, but None when GitHub has no report for ``day`` (204) rather than an empty one."""
        links = await self._links(ref, day)
        if links is None:
            return None  # 204: nothing that day
        attempts = self._retrier.attempts(DOWNLOAD_ENDPOINT)
        try:
            read = await read_with_fresh_links(
                links, lambda fresh: self._download(fresh, row_type), lambda: self._links(ref, day), attempts
            )
        except LinkExpired as exc:
            msg = f"{ref} {day}: fresh links expired too"
            raise DayReportError(msg, result="download_error") from exc
        except DownloadError as exc:
            msg = f"{ref} {day}: {exc}"
            raise DayReportError(msg, result="download_error") from exc
        return [] if read is None else read[0]

    async def _links(self, ref: ReportRef, day: str) -> ReportLinks | None:
        try:
            return await self._api.fetch_links(ref, "1d", day)
        except GitHubError as exc:
            msg = f"{ref} {day}: {exc}"
            raise DayReportError(msg, result="fetch_error") from exc

    async def _download(self, links: ReportLinks, row_type: type[R]) -> list[R]:
        rows: list[R] = []
        for link in links.download_links:
            parser = RowParser(row_type)

            def consume(chunk: bytes, parser: RowParser[R] = parser) -> None:
                rows.extend(parser.feed(chunk))

            try:
                with self._tracing.span("copilot.report.parse", self._span_labels) as span:
                    received = await self._downloader.fetch(link, consume)
                    rows.extend(parser.finish())
                    span.set("copilot.bytes", received)
                    span.set("copilot.rows", parser.records)
                    span.set("copilot.rows_dropped", parser.dropped)
            except DownloadError as exc:
                result = "expired" if isinstance(exc, LinkExpired) else "failure"
                self._metrics.inc(metrics.COPILOT_REPORT_DOWNLOADS, {**self._labels, "result": result})
                raise
            if parser.truncated:
                self._metrics.inc(metrics.COPILOT_REPORT_DOWNLOADS, {**self._labels, "result": "failure"})
                msg = "report file ended inside a record (truncated download)"
                raise DownloadError(msg, transient=True, reason="invalid_body")
            self._metrics.inc(metrics.COPILOT_REPORT_DOWNLOADS, {**self._labels, "result": "success"})
            self._metrics.inc(metrics.COPILOT_RECORDS_PARSED, self._labels, parser.records)
            if parser.dropped:
                labels = {**self._labels, "reason": DROP_PARSE_ERROR}
                self._metrics.inc(metrics.COPILOT_RECORDS_DROPPED, labels, parser.dropped)
        return rows
