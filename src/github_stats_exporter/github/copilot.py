"""Copilot usage reports at the edge: the report-link endpoints and the signed-URL download stream.

`CopilotReportsApi` asks GitHub (through the authenticated `GitHubClient`) for a report's signed
download links. `ReportDownloader` fetches those links on its **own** session, which never carries
an ``Authorization`` header, only talks to allowed download hosts and never logs a signed URL (the
query string is the credential). This module knows endpoints, statuses and hosts; it does not parse
report rows or decide what a failure means for backfill.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from github_stats_exporter.github.client import GitHubClient, default_user_agent
from github_stats_exporter.github.errors import GitHubError
from github_stats_exporter.tracing import NO_TRACING, Span, Tracing

Scope = Literal["org", "enterprise"]
ReportType = Literal["organization", "enterprise", "users", "user_teams", "repos"]
"""``user_teams`` (team membership) and ``repos`` (per repository) have a 1-day report only."""
Window = Literal["1d", "28d"]

LINK_ENDPOINT = "copilot_report_link"
"""The `endpoint` label of report-link requests in the request self-metrics."""

DEFAULT_DOWNLOAD_HOSTS = (
    "copilot-reports.github.com",
    "*.ghe.com",
    "*.blob.core.windows.net",
    "*.azurefd.net",
)
"""Where GitHub serves report files (github.com since 2026-05-20, data residency, fallbacks)."""

_LOOPBACK_NAMES = frozenset({"localhost"})
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_DOWNLOAD_REDIRECTS = 3
CHUNK_SIZE = 256 * 1024


# --- errors -------------------------------------------------------------------------------------


class CopilotReportError(GitHubError):
    """Base of the Copilot report failures.

    * CopilotReportError
      + MalformedReportLinks   the link endpoint answered 200 with a body that is not a report
      + DownloadError          a report file could not be downloaded (``transient`` says whether a retry may help)
        - LinkExpired          the signed URL was refused (expired or no longer valid): fresh links cure it
        - DownloadHostRefused  a link points at a host outside the allowed download hosts (permanent)
    """


class MalformedReportLinks(CopilotReportError):
    """The report-link body lacks ``download_links`` or its days."""


class DownloadError(CopilotReportError):
    """A report file download failed; ``status`` is None when no HTTP answer arrived.

    ``reason`` is the `reason` label of a retry it causes (``timeout``, ``connection``,
    ``server_error``, ``invalid_body`` for a file cut short, ``expired_link``).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        transient: bool = False,
        reason: str = "server_error",
    ) -> None:
        self.status = status
        self.transient = transient
        self.reason = reason
        super().__init__(message)


class LinkExpired(DownloadError):
    """The download host refused the signature (expired, or the file was already removed).

    Transient: asking GitHub for fresh links and downloading again cures it.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status, transient=True, reason="expired_link")


class DownloadHostRefused(DownloadError):
    """The link's scheme or host is not one we download reports from."""


# --- report links -------------------------------------------------------------------------------

_ORG_PATHS: dict[tuple[ReportType, Window], str] = {
    ("organization", "1d"): "organization-1-day",
    ("organization", "28d"): "organization-28-day/latest",
    ("users", "1d"): "users-1-day",
    ("users", "28d"): "users-28-day/latest",
    ("user_teams", "1d"): "user-teams-1-day",
    ("repos", "1d"): "repos-1-day",
}
_ENTERPRISE_PATHS: dict[tuple[ReportType, Window], str] = {
    ("enterprise", "1d"): "enterprise-1-day",
    ("enterprise", "28d"): "enterprise-28-day/latest",
    ("users", "1d"): "users-1-day",
    ("users", "28d"): "users-28-day/latest",
    ("user_teams", "1d"): "user-teams-1-day",
    ("repos", "1d"): "repos-1-day",
}


@dataclass(frozen=True, slots=True)
class ReportRef:
    """One report family: ``organization``/``users``/``user_teams``/``repos`` of an org, or ``enterprise``/
    ``users``/``user_teams``/``repos`` of an enterprise."""

    scope: Scope
    scope_id: str
    report_type: ReportType

    def __post_init__(self) -> None:
        aggregate = "organization" if self.scope == "org" else "enterprise"
        allowed = (aggregate, "users", "user_teams", "repos")
        if self.scope not in ("org", "enterprise") or self.report_type not in allowed:
            msg = f"no Copilot report {self.report_type!r} for scope {self.scope!r} (allowed: {allowed})"
            raise ValueError(msg)
        if not self.scope_id:
            msg = "scope_id (org login or enterprise slug) must not be empty"
            raise ValueError(msg)

    def path(self, window: Window) -> str:
        """The REST path of the link endpoint for ``window``."""
        table = _ORG_PATHS if self.scope == "org" else _ENTERPRISE_PATHS
        base = "orgs" if self.scope == "org" else "enterprises"
        name = table.get((self.report_type, window))
        if name is None:
            msg = f"the {self.report_type} report has no {window} variant"
            raise ValueError(msg)
        return f"/{base}/{quote(self.scope_id, safe='')}/copilot/metrics/reports/{name}"

    def __str__(self) -> str:
        return f"{self.scope}/{self.scope_id}/{self.report_type}"


@dataclass(frozen=True, slots=True)
class ReportLinks:
    """Signed links of one report and the days it covers (``start_day == end_day`` for a 1-day report)."""

    ref: ReportRef
    window: Window
    download_links: tuple[str, ...]
    start_day: str
    end_day: str

    def __repr__(self) -> str:
        # The links are credentials: never let them reach a log line through repr().
        return (
            f"ReportLinks({self.ref}, {self.window}, {self.start_day}..{self.end_day}, "
            f"{len(self.download_links)} link(s))"
        )


def check_day(day: str) -> str:
    """``day`` if it is a real ``YYYY-MM-DD`` date, else ValueError."""
    if not _DAY.fullmatch(day):
        msg = f"day must be YYYY-MM-DD, got {day!r}"
        raise ValueError(msg)
    date.fromisoformat(day)
    return day


class _LinkBody(msgspec.Struct):
    """The report-link answer as GitHub documents it; unknown fields are ignored."""

    download_links: list[object]
    report_day: str = ""
    report_start_day: str = ""
    report_end_day: str = ""


def parse_links(ref: ReportRef, window: Window, body: Any) -> ReportLinks:
    """Read a report-link body; raises `MalformedReportLinks` when a required field is unusable.

    Link entries that are not non-empty strings are dropped (the report is then incomplete, which the
    collector sees as missing files), never raised.
    """
    try:
        parsed = msgspec.convert(body, type=_LinkBody)
    except msgspec.ValidationError as exc:
        msg = f"{ref} {window}: report-link body is not a report-link object ({exc})"
        raise MalformedReportLinks(msg) from exc
    links = tuple(link.strip() for link in parsed.download_links if isinstance(link, str) and link.strip())
    fields = ("report_day", "report_day") if window == "1d" else ("report_start_day", "report_end_day")
    days: list[str] = []
    for name in fields:
        try:
            days.append(check_day(getattr(parsed, name)))
        except ValueError as exc:
            msg = f"{ref} {window}: {name} is missing or not a date"
            raise MalformedReportLinks(msg) from exc
    return ReportLinks(ref, window, links, days[0], days[1])


class CopilotReportsApi:
    """Typed calls of the report-link endpoints through one authenticated client (`fetch_links` serves every
    report, including the 1-day-only ``user_teams`` and ``repos``; the named methods cover the original eight).

    1-day calls send ``day=YYYY-MM-DD`` and return None on ``204`` (no report for that day). Requests are
    never conditional: a cached 304 would hand back links whose signatures have expired.
    """

    def __init__(self, client: GitHubClient) -> None:
        self._client = client

    async def fetch_links(self, ref: ReportRef, window: Window, day: str | None = None) -> ReportLinks | None:
        """Links of the 28-day ``latest`` report, or of the 1-day report for ``day`` (None when GitHub has none)."""
        params: dict[str, str] = {}
        accept: tuple[int, ...] = (200,)
        if window == "1d":
            if day is None:
                msg = "1-day reports need a day"
                raise ValueError(msg)
            params["day"] = check_day(day)
            accept = (200, 204)
        elif day is not None:
            msg = "28-day reports are only available as 'latest'; use window '1d' for a specific day"
            raise ValueError(msg)
        response = await self._client.get(
            ref.path(window), endpoint=LINK_ENDPOINT, params=params, accept=accept, conditional=False
        )
        if response.status == 204:
            return None
        return parse_links(ref, window, response.data)

    async def organization_1_day(self, org: str, day: str) -> ReportLinks | None:
        """``GET /orgs/{org}/copilot/metrics/reports/organization-1-day?day=``."""
        return await self.fetch_links(ReportRef("org", org, "organization"), "1d", day)

    async def organization_28_day(self, org: str) -> ReportLinks:
        """``GET /orgs/{org}/copilot/metrics/reports/organization-28-day/latest``."""
        return await self._latest(ReportRef("org", org, "organization"))

    async def organization_users_1_day(self, org: str, day: str) -> ReportLinks | None:
        """``GET /orgs/{org}/copilot/metrics/reports/users-1-day?day=``."""
        return await self.fetch_links(ReportRef("org", org, "users"), "1d", day)

    async def organization_users_28_day(self, org: str) -> ReportLinks:
        """``GET /orgs/{org}/copilot/metrics/reports/users-28-day/latest``."""
        return await self._latest(ReportRef("org", org, "users"))

    async def enterprise_1_day(self, enterprise: str, day: str) -> ReportLinks | None:
        """``GET /enterprises/{enterprise}/copilot/metrics/reports/enterprise-1-day?day=``."""
        return await self.fetch_links(ReportRef("enterprise", enterprise, "enterprise"), "1d", day)

    async def enterprise_28_day(self, enterprise: str) -> ReportLinks:
        """``GET /enterprises/{enterprise}/copilot/metrics/reports/enterprise-28-day/latest``."""
        return await self._latest(ReportRef("enterprise", enterprise, "enterprise"))

    async def enterprise_users_1_day(self, enterprise: str, day: str) -> ReportLinks | None:
        """``GET /enterprises/{enterprise}/copilot/metrics/reports/users-1-day?day=``."""
        return await self.fetch_links(ReportRef("enterprise", enterprise, "users"), "1d", day)

    async def enterprise_users_28_day(self, enterprise: str) -> ReportLinks:
        """``GET /enterprises/{enterprise}/copilot/metrics/reports/users-28-day/latest``."""
        return await self._latest(ReportRef("enterprise", enterprise, "users"))

    async def _latest(self, ref: ReportRef) -> ReportLinks:
        links = await self.fetch_links(ref, "28d")
        if links is None:  # pragma: no cover (28-day calls accept 200 only)
            msg = f"{ref}: the latest 28-day report answered without a body"
            raise MalformedReportLinks(msg)
        return links


# --- downloads ----------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def download_hosts_for(api_base_url: str, extra: Collection[str] = ()) -> tuple[str, ...]:
    """The allowed download host patterns: GitHub's, ``extra``, and loopback when the API itself is local.

    Loopback is allowed only for a local API (the simulator, tests): in production a link to localhost
    would be a request forgery, not a report.
    """
    hosts = [*DEFAULT_DOWNLOAD_HOSTS, *extra]
    api_host = (URL(api_base_url).host or "").lower()
    if _is_loopback(api_host):
        hosts += ["localhost", "127.0.0.1", "::1"]
    return tuple(dict.fromkeys(h.lower() for h in hosts))


def host_allowed(host: str, patterns: Collection[str]) -> bool:
    """Exact host match, or ``*.suffix`` matching any subdomain of ``suffix``."""
    host = host.lower().strip("[]")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern.strip("[]"):
            return True
    return False


def _refusal(url: URL, patterns: Collection[str]) -> str | None:
    host = (url.host or "").lower()
    if not host_allowed(host, patterns):
        return f"download host {host!r} is not an allowed Copilot report host"
    if url.scheme != "https" and not (url.scheme == "http" and _is_loopback(host)):
        return f"refusing a {url.scheme!r} report link (https only, except a local simulator)"
    return None


def create_download_session(*, max_connections: int = 4) -> aiohttp.ClientSession:
    """A session for signed URLs: no cookies, no proxy/netrc credentials from the environment, no defaults."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections),
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
        trust_env=False,
    )


class ReportDownloader:
    """Streams signed report files; owns (or borrows) a session that never sends ``Authorization``.

    Use as ``async with ReportDownloader(...) as downloader``. ``timeout`` bounds one whole file
    (connect, headers and body), independent of the API client's request timeout.
    """

    def __init__(
        self,
        *,
        timeout: float,
        allowed_hosts: Collection[str] = DEFAULT_DOWNLOAD_HOSTS,
        user_agent: str | None = None,
        session: aiohttp.ClientSession | None = None,
        chunk_size: int = CHUNK_SIZE,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        if timeout <= 0:
            msg = f"download timeout must be positive, got {timeout}"
            raise ValueError(msg)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._hosts = tuple(allowed_hosts)
        self._session = session
        self._owns_session = session is None
        self._chunk_size = chunk_size
        self._tracing = tracing
        # Only what a blob host needs; Authorization must never be among these.
        self._headers: Mapping[str, str] = {
            "Accept": "application/x-ndjson, application/json;q=0.9, */*;q=0.1",
            "User-Agent": user_agent or default_user_agent(),
        }

    async def __aenter__(self) -> Self:
        if self._session is None:
            self._session = create_download_session()
            self._owns_session = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, link: str, consume: Callable[[bytes], object]) -> int:
        """Download one file, handing each body chunk to ``consume``; returns the bytes received.

        Raises a `DownloadError` subclass on any failure; chunks already consumed stay consumed, so
        callers treat a failure as "this attempt of the report is void".
        """
        if self._session is None:
            msg = "ReportDownloader is not open; use 'async with ReportDownloader(...)'"
            raise RuntimeError(msg)
        url = URL(link, encoded=True)
        # The host only: the path and query string of a signed link are its credentials.
        with self._tracing.span("copilot.report.download", {"server.address": url.host or ""}) as span:
            received = await self._fetch(self._session, url, consume, span)
            span.set("copilot.bytes", received)
            return received

    async def _fetch(
        self, session: aiohttp.ClientSession, url: URL, consume: Callable[[bytes], object], span: Span
    ) -> int:
        received = 0
        try:
            for _hop in range(MAX_DOWNLOAD_REDIRECTS + 1):
                refusal = _refusal(url, self._hosts)
                if refusal is not None:
                    raise DownloadHostRefused(refusal)
                async with session.get(
                    url, headers=self._headers, allow_redirects=False, timeout=self._timeout
                ) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in _REDIRECTS and location:
                        url = url.join(URL(location, encoded=True))
                        continue
                    span.set("http.response.status_code", resp.status)
                    if resp.status != 200:
                        raise _status_error(resp.status, await _error_text(resp), url)
                    async for chunk in resp.content.iter_chunked(self._chunk_size):
                        received += len(chunk)
                        consume(chunk)
                        # Parsing is CPU work: give /metrics and other tasks a turn between chunks.
                        await asyncio.sleep(0)
                    return received
            msg = f"more than {MAX_DOWNLOAD_REDIRECTS} redirects from the download host"
            raise DownloadError(msg)
        except TimeoutError as exc:
            msg = f"download from {url.host} timed out after {self._timeout.total:g}s"
            raise DownloadError(msg, transient=True, reason="timeout") from exc
        except aiohttp.ClientPayloadError as exc:
            msg = f"download from {url.host} ended early ({type(exc).__name__})"
            raise DownloadError(msg, transient=True, reason="invalid_body") from exc
        except aiohttp.ClientError as exc:
            msg = f"download from {url.host} failed ({type(exc).__name__})"
            raise DownloadError(msg, transient=True, reason="connection") from exc


async def _error_text(resp: aiohttp.ClientResponse) -> str:
    try:
        return (await resp.content.read(2048)).decode("utf-8", "replace")
    except aiohttp.ClientError:
        return ""


def _status_error(status: int, body: str, url: URL) -> DownloadError:
    where = f"download host {url.host}"
    if status in (403, 404) or (status == 400 and "AuthenticationFailed" in body):
        # Blob hosts answer 403 for an expired signature and 404 once the file is gone: new links cure both.
        return LinkExpired(f"{where} refused the signed link (HTTP {status})", status=status)
    return DownloadError(f"{where} answered HTTP {status}", status=status, transient=status >= 500)
