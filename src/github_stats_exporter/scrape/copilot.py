"""The Copilot usage collector of one org (or the enterprise): links → downloads → parse → map → snapshots.

`CopilotCollector.tick` runs one interval-gated pass over the enabled 28-day reports and publishes two
snapshots per report (the 28-day sums and the newest day alone); `backfill` recovers one day through the
1-day endpoint. Failures after retries become `MissedWindow` records for the backfill queue; they never
raise out of `tick`. This module must not know config files, queues or the HTTP server.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

import structlog

from github_stats_exporter import metrics
from github_stats_exporter.errors import ExporterError, permanent_cause
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.copilot import (
    CopilotReportsApi,
    DownloadError,
    LinkExpired,
    ReportDownloader,
    ReportLinks,
    ReportRef,
    ReportType,
    Scope,
    Window,
)
from github_stats_exporter.github.errors import GitHubError
from github_stats_exporter.health import HealthReport
from github_stats_exporter.model import (
    CopilotReason,
    DayWindow,
    JobKind,
    MissedWindow,
    Sample,
    Snapshot,
    SnapshotKey,
)
from github_stats_exporter.retry import Retrier, RetryPolicy
from github_stats_exporter.scrape.copilot_map import (
    DROP_PARSE_ERROR,
    MapOptions,
    ReportLabels,
    ReportMapper,
)
from github_stats_exporter.scrape.copilot_parse import ReportParser
from github_stats_exporter.scrape.report_fetch import read_with_fresh_links
from github_stats_exporter.selfmetrics import CollectorMetrics
from github_stats_exporter.store import codec
from github_stats_exporter.store.base import CollectionStore, StoreError
from github_stats_exporter.tracing import NO_TRACING, Tracing

log = structlog.get_logger(__name__)

WINDOW_DAYS = 28
REPORT_LAG_DAYS = 2
"""GitHub publishes a day's report about two days after it ends; older days are "complete"."""
SNAPSHOT_KIND = "copilot"
DOWNLOAD_COMPONENT = "github_copilot_report_download"
DOWNLOAD_ENDPOINT = "copilot_report_download"
"""The `endpoint` label of download retries in ``gh_exporter_github_retries_total``."""
REPORT_COMPONENTS: dict[tuple[str, str], str] = {
    ("org", "organization"): "github_api_copilot_org_reports",
    ("org", "users"): "github_api_copilot_org_user_reports",
    ("enterprise", "enterprise"): "github_api_copilot_enterprise_reports",
    ("enterprise", "users"): "github_api_copilot_enterprise_user_reports",
}
FAILURE_RETRY_SECONDS = 900.0
"""After a failed pass the report is tried again this soon (or after the interval, if shorter)."""

RecordMissed = Callable[[MissedWindow], Awaitable[None]]


class ReportLinkSource(Protocol):
    """Where the collector gets a report's signed download links (`CopilotReportsApi` in production)."""

    async def fetch_links(self, ref: ReportRef, window: Window, day: str | None = None) -> ReportLinks | None:
        """Links of the 28-day ``latest`` report, or of the 1-day report for ``day`` (None when there is none)."""
        ...


class CopilotCollectError(ExporterError):
    """A report could not be collected completely; ``reason`` says which step failed.

    Raised ``from`` its cause when there is one, so the cause decides whether it is permanent.
    """

    def __init__(self, reason: CopilotReason, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class CopilotOptions:
    """Everything one collector needs besides its adapters (the composition root maps the config here).

    ``reports`` are the 28-day reports `tick` collects; ``download_attempts`` bounds retries of a
    report whose download failed transiently (fresh links each time, full-jitter backoff from
    ``backoff_seconds`` up to ``max_backoff``); an expired link is refetched once on top of that.
    """

    scope: Scope
    scope_id: str
    reports: tuple[ReportType, ...]
    interval_seconds: float
    mapping: MapOptions = field(default_factory=MapOptions)
    refresh_if_unchanged: bool = False
    download_attempts: int = 3
    backoff_seconds: float = 1.0
    max_backoff: float = 30.0
    jitter: bool = True
    checkpoint_ttl_seconds: float = 60 * 86400.0

    def __post_init__(self) -> None:
        for report_type in self.reports:
            ReportRef(self.scope, self.scope_id, report_type)  # validates the pair
        if self.interval_seconds <= 0 or self.download_attempts < 1:
            msg = "interval_seconds must be positive and download_attempts >= 1"
            raise ValueError(msg)

    @property
    def poll_seconds(self) -> float:
        """How often to call `tick`: the gate decides when a report is due, this bounds the delay."""
        return min(self.interval_seconds, 300.0)


def components_for(scope: Scope, reports: tuple[ReportType, ...]) -> list[str]:
    """Health components a collector reports on (register them with ``required_for_ready=False``)."""
    return [REPORT_COMPONENTS[scope, r] for r in reports] + [DOWNLOAD_COMPONENT]


@dataclass(slots=True)
class _Collected:
    mapper: ReportMapper
    links: ReportLinks
    parse_dropped: int = 0


def _day_start(day: str) -> float:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp()


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def read_checkpoint(record: bytes | None) -> dict[str, str]:
    """A report's stored checkpoint (``last_attempt``, ``report_end_day``…); empty when absent or unreadable."""
    if record is None:
        return {}
    try:
        return codec.decode(record, dict[str, str])
    except codec.RecordError:
        return {}


def report_labels(ref: ReportRef) -> ReportLabels:
    """The ``org`` and ``scope`` labels of a report's series (shared by the history command)."""
    # Enterprise users get their own scope value: an enterprise slug often equals an org login,
    # and with one value the org-users and enterprise-users series would collide.
    scope: Literal["org", "enterprise", "users", "enterprise_users"]
    if ref.report_type == "users":
        scope = "enterprise_users" if ref.scope == "enterprise" else "users"
    else:
        scope = ref.scope
    return ReportLabels(org=ref.scope_id, scope=scope)


class CopilotCollector:
    """Copilot reports of one org or one enterprise.

    ``client`` is the authenticated client of that org (or the enterprise's own App installation);
    ``downloader`` may be shared by all collectors. ``links`` replaces the report-link calls made
    through ``client`` (tests pass a fake). Checkpoints live in the store, so the interval and
    unchanged gates survive a leader change.
    """

    def __init__(
        self,
        client: GitHubClient,
        downloader: ReportDownloader,
        store: CollectionStore,
        self_metrics: CollectorMetrics,
        options: CopilotOptions,
        *,
        record_missed: RecordMissed | None = None,
        health: HealthReport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
        links: ReportLinkSource | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._api: ReportLinkSource = links if links is not None else CopilotReportsApi(client)
        self._downloader = downloader
        self._tracing = tracing
        self._store = store
        self._metrics = self_metrics
        self.options = options
        self._record_missed = record_missed
        self._health = health
        self._clock = clock
        policy = RetryPolicy(
            attempts=options.download_attempts,
            initial_backoff=options.backoff_seconds,
            max_backoff=max(options.max_backoff, options.backoff_seconds),
            jitter=options.jitter,
        )
        self._retrier = Retrier(policy, org=options.scope_id, metrics=self_metrics, sleep=sleep, rng=rng)

    # --- public API ------------------------------------------------------------------------------

    async def tick(self) -> bool:
        """One pass over the enabled 28-day reports; True when none failed (skips count as fine)."""
        ok = True
        for report_type in self.options.reports:
            ref = ReportRef(self.options.scope, self.options.scope_id, report_type)
            try:
                ok = await self._collect_latest(ref) and ok
            except StoreError as exc:
                # Checkpoints unreadable: nothing is known to be missing, so no backfill; the next poll retries.
                self._run(self._labels(ref), "store_error")
                log.warning("copilot_store_failed", report=str(ref), error=str(exc))
                ok = False
        return ok

    async def backfill(self, ref: ReportRef, day: date) -> None:
        """Collect the 1-day report of ``day``; a 204 (no report) is success. Raises `CopilotCollectError`.

        A report of another org or enterprise raises ValueError.
        """
        ref = self._own(ref)
        day_text = day.isoformat()
        labels = self._labels(ref)
        emit_day = self.options.mapping.labels.emit_day_label
        key = self._key(ref, "1d", day_text if emit_day else None)
        if not emit_day and await self._newer_day_stored(key, day_text):
            log.info("copilot_backfill_superseded", report=str(ref), day=day_text)
            return
        try:
            links = await self._api.fetch_links(ref, "1d", day_text)
        except GitHubError as exc:
            self._report_health(ref, healthy=False, detail=f"1-day link: {exc}")
            raise CopilotCollectError(CopilotReason.REPORT_FETCH_ERROR, f"{ref} {day}: {exc}") from exc
        if links is None:
            log.info("copilot_backfill_no_report", report=str(ref), day=day_text)
            return
        collected = await self._collect(ref, links, lambda ln: {"1d": None})
        samples = collected.mapper.samples("1d")
        await self._put_day_view(key, samples, day_text, meta={"day": day_text, "source": "1d"})
        self._count_drops(labels, collected)
        if collected.parse_dropped:
            msg = f"{ref} {day}: {collected.parse_dropped} malformed line(s) skipped"
            raise CopilotCollectError(CopilotReason.REPORT_PARSE_ERROR, msg)

    # --- the scheduled pass ----------------------------------------------------------------------

    async def _collect_latest(self, ref: ReportRef) -> bool:
        labels = self._labels(ref)
        name = self._checkpoint_name(ref)
        now = self._clock()
        checkpoint = read_checkpoint(await self._store.get_checkpoint(name))
        end_day = checkpoint.get("report_end_day")
        self._set_staleness(labels, end_day, now)
        if not self._due(checkpoint, now):
            self._run(labels, "skipped_interval")
            return True
        checkpoint.update({"last_attempt": repr(now), "last_result": "failed"})
        await self._store.set_checkpoint(name, codec.encode(checkpoint), self.options.checkpoint_ttl_seconds)
        try:
            links = await self._api.fetch_links(ref, "28d")
        except GitHubError as exc:
            expected_end = (
                datetime.fromtimestamp(now, UTC).date() - timedelta(days=REPORT_LAG_DAYS)
            ).isoformat()
            await self._fail(
                ref,
                CopilotReason.REPORT_FETCH_ERROR,
                "fetch_error",
                str(exc),
                end_day,
                expected_end,
                None,
                exc,
            )
            return False
        if links is None:  # pragma: no cover (the 28-day endpoints never answer 204)
            return True
        if (
            end_day
            and links.end_day <= end_day
            and not self.options.refresh_if_unchanged
            and await self._has(ref)
        ):
            checkpoint["last_result"] = "ok"
            await self._store.set_checkpoint(
                name, codec.encode(checkpoint), self.options.checkpoint_ttl_seconds
            )
            self._report_health(ref, healthy=True)
            self._run(labels, "skipped_unchanged")
            return True
        try:
            collected = await self._collect(ref, links, lambda ln: {"28d": None, "1d": ln.end_day})
        except CopilotCollectError as exc:
            result = "fetch_error" if exc.reason is CopilotReason.REPORT_FETCH_ERROR else "download_error"
            await self._fail(ref, exc.reason, result, str(exc), end_day, links.end_day, links.start_day, exc)
            return False
        links = collected.links  # a refetch after an expired link may have moved the window
        try:
            await self._publish(ref, collected)
        except StoreError as exc:
            self._run(labels, "store_error")
            log.warning("copilot_store_failed", report=str(ref), error=str(exc))
            return False
        self._count_drops(labels, collected)
        if collected.parse_dropped:
            # Published as far as it goes, but the checkpoint stays: the next pass downloads it again.
            detail = f"{collected.parse_dropped} malformed line(s) skipped"
            reason = CopilotReason.REPORT_PARSE_ERROR
            await self._fail(ref, reason, "partial", detail, end_day, links.end_day, links.start_day)
            return False
        checkpoint.update(
            {
                "report_start_day": links.start_day,
                "report_end_day": links.end_day,
                "last_result": "ok",
                "last_success": repr(now),
            }
        )
        await self._store.set_checkpoint(name, codec.encode(checkpoint), self.options.checkpoint_ttl_seconds)
        self._metrics.set(metrics.COPILOT_LAST_SUCCESS, self._self_labels(labels), self._clock())
        self._set_staleness(labels, links.end_day, self._clock())
        self._report_health(ref, healthy=True)
        self._run(labels, "success")
        return True

    async def _has(self, ref: ReportRef) -> bool:
        """Whether the 28-day snapshot is still stored (a store flushed under us must not look unchanged)."""
        key = self._key(ref, "28d")
        return key in await self._store.get_many([key])

    def _due(self, checkpoint: Mapping[str, str], now: float) -> bool:
        try:
            last = float(checkpoint.get("last_attempt", "0"))
        except ValueError:
            return True
        wait = self.options.interval_seconds
        if checkpoint.get("last_result") == "failed":
            wait = min(wait, FAILURE_RETRY_SECONDS)
        # A little slack so a scheduler tick a few ms early does not skip a whole interval.
        return now >= last + wait - min(60.0, wait * 0.05)

    async def _fail(
        self,
        ref: ReportRef,
        reason: CopilotReason,
        result: str,
        detail: str,
        checkpoint_end: str | None,
        end_day: str,
        start_day: str | None,
        cause: BaseException | None = None,
    ) -> None:
        labels = self._labels(ref)
        self._run(labels, result)
        log.warning("copilot_report_failed", report=str(ref), reason=str(reason), error=detail)
        if (
            reason is not CopilotReason.REPORT_DOWNLOAD_ERROR
        ):  # download failures are the download component's business
            self._report_health(ref, healthy=False, detail=detail)
        if (
            reason is CopilotReason.REPORT_FETCH_ERROR
            and cause is not None
            and permanent_cause(cause) is not None
        ):
            # GitHub would give every day's job the same answer (no permission, no such org): it could
            # only be dead-lettered. Download failures are always recorded: a job downloads new links.
            return
        # Only the days not already covered by a complete report need the 1-day endpoints.
        first = _shift(end_day, -(WINDOW_DAYS - 1))
        if start_day is not None and start_day > first:
            first = start_day
        if checkpoint_end and reason is not CopilotReason.REPORT_PARSE_ERROR:
            first = max(first, _shift(checkpoint_end, 1))
        if first > end_day:
            return
        missed = MissedWindow(
            kind=JobKind.COPILOT,
            scope=ref.scope,
            scope_id=ref.scope_id,
            target=ref.report_type,
            reason=reason,
            window=DayWindow(date.fromisoformat(first), date.fromisoformat(end_day)),
        )
        if self._record_missed is not None:
            await self._record_missed(missed)

    async def _publish(self, ref: ReportRef, collected: _Collected) -> None:
        mapper, links = collected.mapper, collected.links
        now = self._clock()
        meta = {
            "report_start_day": links.start_day,
            "report_end_day": links.end_day,
            "records": str(mapper.records),
        }
        await self._store.put(Snapshot(self._key(ref, "28d"), tuple(mapper.samples("28d")), now, meta=meta))
        emit_day = self.options.mapping.labels.emit_day_label
        day_key = self._key(ref, "1d", links.end_day if emit_day else None)
        await self._put_day_view(
            day_key, mapper.samples("1d"), links.end_day, meta={"day": links.end_day, "source": "28d"}
        )
        if emit_day:
            await self._prune_days(ref, _shift(links.end_day, -(WINDOW_DAYS - 1)))

    async def _put_day_view(
        self, key: SnapshotKey, samples: list[Sample], day: str, meta: dict[str, str]
    ) -> None:
        # Scheduled passes and backfill jobs race; the single 1-day view must only move forward.
        if await self._newer_day_stored(key, day):
            return
        await self._store.put(Snapshot(key, tuple(samples), self._clock(), meta=meta))

    async def _newer_day_stored(self, key: SnapshotKey, day: str) -> bool:
        current = (await self._store.get_many([key])).get(key)
        return current is not None and current.meta.get("day", "") > day

    async def _prune_days(self, ref: ReportRef, oldest: str) -> None:
        prefix = self._key(ref, "1d")
        for key in await self._store.keys(prefix):
            if len(key.parts) == len(prefix.parts) + 1 and key.parts[-1] < oldest:
                await self._store.delete(key)

    # --- downloading ------------------------------------------------------------------------------

    async def _collect(
        self, ref: ReportRef, links: ReportLinks, windows: Callable[[ReportLinks], dict[str, str | None]]
    ) -> _Collected:
        """Download and map every link; transient failures retry with fresh links, an expired link once more."""
        labels = self._labels(ref)
        attempts = self._retrier.attempts(DOWNLOAD_ENDPOINT)

        async def read(current: ReportLinks) -> tuple[ReportMapper, int]:
            # A fresh mapper per attempt: a failed download must not leave half a report behind.
            mapper = ReportMapper(labels, self.options.mapping, windows(current))
            return mapper, await self._download_all(labels, current, mapper)

        try:
            done = await read_with_fresh_links(links, read, lambda: self._refetch(ref, links), attempts)
        except LinkExpired as exc:
            self._download_health(ref, healthy=False, detail=str(exc))
            raise CopilotCollectError(
                CopilotReason.REPORT_DOWNLOAD_ERROR, f"{ref}: fresh links expired too ({exc})"
            ) from exc
        except DownloadError as exc:
            self._download_health(ref, healthy=False, detail=str(exc))
            raise CopilotCollectError(CopilotReason.REPORT_DOWNLOAD_ERROR, f"{ref}: {exc}") from exc
        if done is None:  # pragma: no cover (_refetch raises instead of answering None)
            msg = f"{ref}: the report vanished while refetching its links"
            raise CopilotCollectError(CopilotReason.REPORT_FETCH_ERROR, msg)
        (mapper, dropped), links = done
        self._download_health(ref, healthy=True)
        return _Collected(mapper, links, dropped)

    async def _refetch(self, ref: ReportRef, links: ReportLinks) -> ReportLinks:
        day = links.end_day if links.window == "1d" else None
        try:
            fresh = await self._api.fetch_links(ref, links.window, day)
        except GitHubError as exc:
            raise CopilotCollectError(
                CopilotReason.REPORT_FETCH_ERROR, f"{ref}: refetching links failed: {exc}"
            ) from exc
        if fresh is None:
            msg = f"{ref}: the report vanished while refetching its links"
            raise CopilotCollectError(CopilotReason.REPORT_FETCH_ERROR, msg)
        return fresh

    async def _download_all(self, labels: ReportLabels, links: ReportLinks, mapper: ReportMapper) -> int:
        self_labels = self._self_labels(labels)
        breakdowns = bool(self.options.mapping.breakdowns)
        dropped = 0
        for link in links.download_links:
            parser = ReportParser(breakdowns=breakdowns, users=labels.is_users)
            before = mapper.records

            def consume(chunk: bytes, parser: ReportParser = parser) -> None:
                mapper.add_all(parser.feed(chunk))

            try:
                with self._tracing.span("copilot.report.parse", self._span_labels(labels)) as span:
                    received = await self._downloader.fetch(link, consume)
                    mapper.add_all(parser.finish())
                    span.set("copilot.bytes", received)
                    span.set("copilot.rows", parser.records)
                    span.set("copilot.rows_dropped", parser.dropped)
            except LinkExpired:
                self._metrics.inc(metrics.COPILOT_REPORT_DOWNLOADS, {**self_labels, "result": "expired"})
                raise
            except DownloadError:
                self._metrics.inc(metrics.COPILOT_REPORT_DOWNLOADS, {**self_labels, "result": "failure"})
                raise
            finally:
                self._metrics.inc(metrics.COPILOT_RECORDS_PARSED, self_labels, mapper.records - before)
            if parser.truncated:
                self._metrics.inc(metrics.COPILOT_REPORT_DOWNLOADS, {**self_labels, "result": "failure"})
                msg = "report file ended inside a record (truncated download)"
                raise DownloadError(msg, transient=True, reason="invalid_body")
            self._metrics.inc(metrics.COPILOT_REPORT_DOWNLOADS, {**self_labels, "result": "success"})
            dropped += parser.dropped
        return dropped

    # --- labels, keys, self-metrics ----------------------------------------------------------------

    def _span_labels(self, labels: ReportLabels) -> dict[str, str]:
        return {"copilot.scope": labels.scope, "github.org": labels.org}

    def _own(self, ref: ReportRef) -> ReportRef:
        """``ref`` spelled as this collector spells its scope id (GitHub ignores case), or ValueError."""
        own = self.options
        if ref.scope != own.scope or ref.scope_id.lower() != own.scope_id.lower():
            msg = f"this collector serves {own.scope}/{own.scope_id}, not {ref.scope}/{ref.scope_id}"
            raise ValueError(msg)
        return ReportRef(own.scope, own.scope_id, ref.report_type)

    @staticmethod
    def _labels(ref: ReportRef) -> ReportLabels:
        return report_labels(ref)

    @staticmethod
    def _self_labels(labels: ReportLabels) -> dict[str, str]:
        return {"org": labels.org, "scope": labels.scope}

    @staticmethod
    def _key(ref: ReportRef, window: Window, day: str | None = None) -> SnapshotKey:
        parts = (ref.scope, ref.scope_id, ref.report_type, window)
        return SnapshotKey(SNAPSHOT_KIND, parts + ((day,) if day else ()))

    @staticmethod
    def _checkpoint_name(ref: ReportRef) -> str:
        return f"copilot/{ref.scope}/{ref.scope_id}/{ref.report_type}"

    def _run(self, labels: ReportLabels, result: str) -> None:
        self._metrics.inc(metrics.COPILOT_SCRAPE_RUNS, {**self._self_labels(labels), "result": result})

    def _count_drops(self, labels: ReportLabels, collected: _Collected) -> None:
        base = self._self_labels(labels)
        drops = dict(collected.mapper.dropped)
        if collected.parse_dropped:
            drops[DROP_PARSE_ERROR] = collected.parse_dropped
        for reason, count in drops.items():
            self._metrics.inc(metrics.COPILOT_RECORDS_DROPPED, {**base, "reason": reason}, count)
        for label, count in collected.mapper.label_drops.items():
            self._metrics.inc(metrics.COPILOT_LABEL_VALUES_DROPPED, {**base, "label": label}, count)

    def _set_staleness(self, labels: ReportLabels, end_day: str | None, now: float) -> None:
        if end_day:
            age = max(0.0, now - _day_start(end_day))
            self._metrics.set(metrics.COPILOT_REPORT_STALENESS, self._self_labels(labels), age)

    def _report_health(self, ref: ReportRef, *, healthy: bool, detail: str = "") -> None:
        if self._health is not None:
            self._health.report(REPORT_COMPONENTS[ref.scope, ref.report_type], ref.scope_id, healthy, detail)

    def _download_health(self, ref: ReportRef, *, healthy: bool, detail: str = "") -> None:
        if self._health is not None:
            member = f"{ref.scope}/{ref.scope_id}/{ref.report_type}"
            self._health.report(DOWNLOAD_COMPONENT, member, healthy, detail)
