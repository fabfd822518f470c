"""The base of every day-by-day Copilot collector: learn the window, build from its days, publish once.

`DayCollector.tick` asks for the latest 28-day users report's links only to learn the window (the
reports kept one file per day have no 28-day variant), hands the window's days to the subclass's
``_build`` (which reads each day through its `DayFiles` and `reports`, a `DayReports`), replaces the
scope's snapshot unless it already holds the same series (rewritten after a day anyway), prunes the
days that left the window from the subclass's ``_files``, and books the run:
``gh_exporter_copilot_scrape_runs_total``, the last-success gauge, the health component and a log line
(``<event>_failed``) on failure. A failed day fails the pass without publishing a window with a hole;
days already fetched stay stored. `DayOptions` is the scope and retry settings of such a collector. It
must not know what a report row means or how days combine (the teams and repository collectors decide
that).
"""

from __future__ import annotations

import asyncio
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import ClassVar, Protocol, TypeVar

import structlog

from github_stats_exporter import metrics
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.copilot import (
    CopilotReportsApi,
    ReportDownloader,
    ReportLinks,
    ReportRef,
    ReportType,
    Scope,
)
from github_stats_exporter.github.errors import GitHubError
from github_stats_exporter.health import HealthReport
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.retry import Retrier, RetryPolicy
from github_stats_exporter.scrape.copilot_parse import Number
from github_stats_exporter.scrape.day_files import DayFiles
from github_stats_exporter.scrape.day_reports import DayReportError, DayReports, LinkSource
from github_stats_exporter.selfmetrics import CollectorMetrics
from github_stats_exporter.store.base import CollectionStore, StoreError
from github_stats_exporter.tracing import NO_TRACING, Tracing

log = structlog.get_logger(__name__)
T = TypeVar("T")

MAX_UNCHANGED_SECONDS = 86400.0
"""Unchanged series are still rewritten after a day, well inside the store's retention."""
DROP_MALFORMED = "malformed"
DROP_OTHER_DAY = "other_day"


@dataclass(frozen=True, slots=True)
class DayOptions:
    """One scope of a day-by-day collector; the download retry settings mirror the report collector's.

    A subclass names its health component and self-metric ``scope`` label per scope (org, enterprise).
    """

    components: ClassVar[Mapping[str, str]] = {}
    self_scopes: ClassVar[Mapping[str, str]] = {}

    scope: Scope
    scope_id: str
    interval_seconds: float
    download_attempts: int = 3
    backoff_seconds: float = 1.0
    max_backoff: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.scope not in ("org", "enterprise") or not self.scope_id:
            msg = f"scope must be org or enterprise with an id, got {self.scope!r}/{self.scope_id!r}"
            raise ValueError(msg)
        if self.interval_seconds <= 0 or self.download_attempts < 1:
            msg = "interval_seconds must be positive and download_attempts >= 1"
            raise ValueError(msg)

    @property
    def component(self) -> str:
        """The health component the collector reports on (member: the scope id)."""
        return self.components[self.scope]

    @property
    def self_scope(self) -> str:
        """The `scope` label of the collector's self-metrics."""
        return self.self_scopes[self.scope]

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.download_attempts,
            initial_backoff=self.backoff_seconds,
            max_backoff=max(self.max_backoff, self.backoff_seconds),
            jitter=self.jitter,
        )


class Prunable(Protocol):
    """Day records that can drop the days before a window (`DayFiles`)."""

    async def prune(self, oldest: str) -> int: ...


def window_days(start: str, end: str) -> list[str]:
    """Every day from ``start`` to ``end``, both included, oldest first."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


class DayCollector(ABC):
    """One scope's day-by-day collector: links, downloads with retries, publishing, self-metrics, health.

    A subclass sets ``snapshot_kind`` and ``event`` and implements ``_build`` and ``_files``.
    """

    snapshot_kind: ClassVar[str]
    event: ClassVar[str]

    def __init__(
        self,
        client: GitHubClient,
        downloader: ReportDownloader,
        store: CollectionStore,
        self_metrics: CollectorMetrics,
        options: DayOptions,
        *,
        health: HealthReport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
        links: LinkSource | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._api: LinkSource = links if links is not None else CopilotReportsApi(client)
        self._store = store
        self._metrics = self_metrics
        self.options = options
        self._snapshot_key = SnapshotKey(self.snapshot_kind, (options.scope, options.scope_id))
        self._health = health
        self._clock = clock
        self.labels = {"org": options.scope_id, "scope": options.self_scope}
        """The ``org`` and ``scope`` labels of this collector's self-metrics."""
        retrier = Retrier(
            options.retry_policy(), org=options.scope_id, metrics=self_metrics, sleep=sleep, rng=rng
        )
        self.reports = DayReports(self._api, downloader, retrier, self_metrics, self.labels, tracing=tracing)
        """Reads one day's report as rows (`DayReports.rows`)."""
        self.prefix = f"copilot_days/{options.scope}/{options.scope_id}"
        """Where `day_files` keeps the day records (``<prefix>/<report>``)."""

    @abstractmethod
    async def _build(self, days: list[str], newest: str) -> Iterable[Sample]:
        """(the window's days oldest first, its newest day) → the scope's complete series."""

    @abstractmethod
    def _files(self) -> Sequence[Prunable]:
        """The day records to prune when days leave the window."""

    def day_files(self, report: str, kind: type[T]) -> DayFiles[T]:
        """The stored day records of one of this scope's reports (``<prefix>/<report>/<day>``)."""
        return DayFiles(self._store, f"{self.prefix}/{report}", kind)

    def ref(self, report: ReportType) -> ReportRef:
        return ReportRef(self.options.scope, self.options.scope_id, report)

    async def tick(self) -> bool:
        """One pass; True when the snapshot now holds the latest window."""
        opts = self.options
        try:
            window = await self._api.fetch_links(self.ref("users"), "28d")
        except GitHubError as exc:
            return self._fail("fetch_error", f"28-day users report: {exc}")
        if window is None:  # pragma: no cover (the 28-day endpoints never answer 204)
            return True
        try:
            samples = tuple(await self._build(window_days(window.start_day, window.end_day), window.end_day))
            unchanged = await self._publish(samples, window)
            for records in self._files():
                await records.prune(window.start_day)
        except DayReportError as exc:
            return self._fail(exc.result, str(exc))
        except StoreError as exc:
            self._run("store_error")
            log.warning(f"{self.event}_store_failed", org=opts.scope_id, scope=opts.scope, error=str(exc))
            return False
        self._run("unchanged" if unchanged else "success")
        self._metrics.set(metrics.COPILOT_LAST_SUCCESS, self.labels, self._clock())
        self._report(healthy=True)
        return True

    def drop(self, reason: str, count: int = 1) -> None:
        """Count rows not used (``gh_exporter_copilot_records_dropped_total``)."""
        self._metrics.inc(metrics.COPILOT_RECORDS_DROPPED, {**self.labels, "reason": reason}, count)

    def drop_label_value(self, label: str, count: int = 1) -> None:
        """Count elements over a label's value cap (``gh_exporter_copilot_label_values_dropped_total``)."""
        self._metrics.inc(metrics.COPILOT_LABEL_VALUES_DROPPED, {**self.labels, "label": label}, count)

    async def _publish(self, samples: tuple[Sample, ...], window: ReportLinks) -> bool:
        """Replace the snapshot unless it already holds these series (and is under a day old)."""
        now = self._clock()
        stored = (await self._store.get_many([self._snapshot_key])).get(self._snapshot_key)
        if (
            stored is not None
            and stored.samples == samples
            and now - stored.produced_at < MAX_UNCHANGED_SECONDS
        ):
            return True
        meta = {"report_start_day": window.start_day, "report_end_day": window.end_day}
        await self._store.put(Snapshot(self._snapshot_key, samples, now, meta=meta))
        return False

    def _fail(self, result: str, detail: str) -> bool:
        self._run(result)
        log.warning(f"{self.event}_failed", org=self.options.scope_id, scope=self.options.scope, error=detail)
        self._report(healthy=False, detail=detail)
        return False

    def _run(self, result: str) -> None:
        self._metrics.inc(metrics.COPILOT_SCRAPE_RUNS, {**self.labels, "result": result})

    def _report(self, *, healthy: bool, detail: str = "") -> None:
        if self._health is not None:
            self._health.report(self.options.component, self.options.scope_id, healthy, detail)


def add_values(acc: list[Number | None], values: list[Number | None]) -> list[Number | None]:
    """Element-wise sum of two value vectors; None (absent) adds nothing."""
    return [v if a is None else a if v is None else a + v for a, v in zip(acc, values, strict=True)]
