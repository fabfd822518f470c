"""The GitHub REST client: one aiohttp session per installation, budget-aware, retrying, caching.

`GitHubClient.get` waits for rate-limit budget before every attempt, sends conditional requests
from an ETag cache, retries transient failures through `retry.Attempts` (full-jitter backoff, every
retry counted) and maps everything else to the typed errors in `errors.py`. Requests go through a
`transport.Transport` (aiohttp by default, an in-memory one in tests). It only ever talks to the
configured API origin (scheme, host, port), so credentials cannot leak to another host; it knows no
endpoints and parses no payloads beyond JSON decoding.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self

import aiohttp
import msgspec
import structlog
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import github_stats_exporter
from github_stats_exporter import metrics
from github_stats_exporter.github.auth import Auth
from github_stats_exporter.github.errors import (
    AuthError,
    ForeignHostError,
    GitHubHTTPError,
    GitHubTransportError,
    MalformedResponse,
    RateLimited,
    TransportError,
    http_error_for,
)
from github_stats_exporter.github.etag import CachedResponse, ETagCache, SharedResponses
from github_stats_exporter.github.payload import ErrorBody
from github_stats_exporter.github.ratelimit import (
    LimitKind,
    RateLimitBudget,
    RateLimitState,
    Sleep,
    classify_limit,
    header,
    limit_headers,
    parse_retry_after,
    resource_for,
)
from github_stats_exporter.github.routes import route_template
from github_stats_exporter.github.transport import AiohttpTransport, Answer, Request, Transport
from github_stats_exporter.retry import Attempts, Retrier, RetryPolicy
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.tracing import NO_TRACING, Tracing

log = structlog.get_logger(__name__)

MAX_REDIRECTS = 5
SECONDARY_LIMIT_MIN_WAIT = 60.0
"""GitHub asks for at least a minute after a secondary limit that names no Retry-After."""
ETAG_ENTRIES_PER_REPOSITORY = 16
"""ETag cache entries an org may hold per repository: ~8.5 were seen in steady cycles (pull requests,
issue comments, commits, reviews of changed pull requests, LOC statistics, listing pages;
docs/benchmarks.md "Event-loop stalls"), doubled for busier repositories."""
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;[^,]*?\brel="?([^",]*\bnext\b[^",]*)"?')


class _RateLimitEntry(msgspec.Struct):
    """One resource of ``GET /rate_limit``; unknown fields are ignored, missing ones unknown."""

    limit: int | None = None
    remaining: int | None = None
    used: int | None = None
    reset: float | None = None


class _RateLimitBody(msgspec.Struct):
    """``GET /rate_limit``: entries are decoded one by one, so a malformed one is skipped alone."""

    resources: dict[str, object] = {}


def default_user_agent() -> str:
    """``github-stats-exporter/<installed version>`` (GitHub rejects requests without a User-Agent)."""
    return f"github-stats-exporter/{github_stats_exporter.__version__}"


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Tuning of one client; the composition root maps the config file onto it."""

    base_url: str
    request_timeout: float = 20.0
    max_attempts: int = 3
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    jitter: bool = True
    min_remaining_threshold: int = 100
    min_reset_buffer: float = 5.0
    secondary_limit_backoff: float = 60.0
    max_wait: float = 900.0
    max_pages: int = 100
    api_version: str = "2022-11-28"
    user_agent: str = field(default_factory=default_user_agent)
    etag_cache_entries: int = 10_000
    """The least each org's ETag cache holds; `GitHubClient.fit_etag_cache` raises it with the org's size."""

    def __post_init__(self) -> None:
        base = URL(self.base_url)
        if base.scheme not in ("http", "https") or not base.host:
            msg = f"base_url must be an absolute http(s) URL, got {self.base_url!r}"
            raise ValueError(msg)
        if self.max_attempts < 1 or self.max_pages < 1:
            msg = f"max_attempts and max_pages must be >= 1 (got {self.max_attempts}, {self.max_pages})"
            raise ValueError(msg)
        if self.request_timeout <= 0:
            msg = f"request_timeout must be positive, got {self.request_timeout}"
            raise ValueError(msg)

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy these options describe (server hints are capped at ``max_wait``)."""
        return RetryPolicy(
            attempts=self.max_attempts,
            initial_backoff=self.initial_backoff,
            max_backoff=self.max_backoff,
            jitter=self.jitter,
            max_hint=self.max_wait,
        )


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded answer.

    ``not_modified`` is True when a 304 answered a conditional request; ``status`` is then 200 and
    ``data``/``headers`` are those of the cached 200 (rate-limit headers refreshed from the 304;
    ``data`` is a fresh decode of its bytes, or None when the caller asked not to decode it).
    ``truncated`` is set on the last page `GitHubClient.paginate` yields when the page cap stopped
    it while GitHub still offered a next page. ``unread`` holds the cached body a 304 stood for when
    it was not decoded, so a caller can still decode it (`body_data`) if it turns out to need it.
    """

    status: int
    data: Any
    headers: Mapping[str, str]
    not_modified: bool
    url: str
    truncated: bool = False
    unread: bytes | None = None


def body_data(response: Response) -> Any:
    """The JSON of a response: ``data``, or the decode of a 304's cached body left unread."""
    return response.data if response.unread is None else _decode_cached(response.unread)


def next_link(link_header: str | None) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, exactly as GitHub wrote it."""
    if not link_header:
        return None
    for match in _NEXT_LINK.finditer(link_header):
        if "next" in match.group(2).split():
            return match.group(1).strip()
    return None


def create_session(options: ClientOptions, *, max_connections: int = 16) -> aiohttp.ClientSession:
    """A session fit for the API: no cookies, no env proxies/netrc credentials, bounded concurrency.

    The connection cap keeps one installation well under GitHub's 100 concurrent requests.
    """
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=options.request_timeout),
        connector=aiohttp.TCPConnector(limit=max_connections),
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
        trust_env=False,
    )


def _status_class(status: int) -> str:
    return f"{status // 100}xx" if 200 <= status < 600 else "error"


_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_.~-]+)+/?")
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9_.~:-]*")
"""Characters yarl leaves as they are in a path and in a query name or value (``:`` is kept in a query)."""


def _plain_target(path: str, params: Mapping[str, str | int] | None) -> str | None:
    """``path?query`` as text when no part needs quoting (the path without a query, ``.`` or ``..`` segments)."""
    if not _PLAIN_PATH.fullmatch(path) or "/./" in path + "/" or "/../" in path + "/":
        return None
    if not params:
        return path
    pairs = []
    for name, value in params.items():
        text = str(value)
        if not _PLAIN_QUERY.fullmatch(name) or not _PLAIN_QUERY.fullmatch(text):
            return None
        pairs.append(f"{name}={text}")
    return path + "?" + "&".join(pairs)


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def _decode(raw: Answer, endpoint: str, url: URL) -> Any:
    """The JSON body of an accepted answer (None when it has none); `MalformedResponse` if it does not parse."""
    if raw.status == 204 or not raw.body.strip():
        return None
    try:
        return msgspec.json.decode(raw.body)
    except msgspec.DecodeError as exc:
        msg = f"body is not valid JSON ({len(raw.body)} bytes)"
        raise MalformedResponse(raw.status, msg, endpoint, url.path) from exc


def _decode_cached(body: bytes) -> Any:
    """The JSON of a cached 200 body; it decoded when it arrived, so it decodes again."""
    return msgspec.json.decode(body) if body.strip() else None


def _error_message(body: bytes) -> str:
    try:
        return msgspec.json.decode(body, type=ErrorBody).message[:300]
    except msgspec.DecodeError:  # not JSON, or JSON without a string "message" (ValidationError)
        return ""


@dataclass(slots=True)
class _Trace:
    """What one traced request did, written into its span when it ends."""

    attempts: int = 0
    status: int = 0
    waited: float = 0.0


class GitHubClient:
    """Rate-limit-aware GitHub REST client for one org / installation.

    Use as ``async with GitHubClient(...) as gh``; it closes the session only if it created it.
    Pass ``budget`` to share one `RateLimitBudget` between clients of the same installation, and
    ``transport`` to send requests through something other than an aiohttp session (tests), and
    ``tracing`` to give every request inside a traced cycle or job a ``github.request`` span.
    """

    def __init__(
        self,
        options: ClientOptions,
        auth: Auth,
        *,
        org: str,
        installation_id: str = "",
        metrics: SelfMetrics,
        session: aiohttp.ClientSession | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        budget: RateLimitBudget | None = None,
        transport: Transport | None = None,
        tracing: Tracing = NO_TRACING,
        shared: SharedResponses | None = None,
    ) -> None:
        self._options = options
        self._tracing = tracing
        self._auth = auth
        self._org = org
        self._installation_id = installation_id
        self._metrics = metrics
        self._session = session
        self._owns_session = session is None and transport is None
        self._transport = transport or (AiohttpTransport(session) if session is not None else None)
        self._clock = clock
        self._retrier = Retrier(options.retry, org=org, metrics=metrics, sleep=sleep, rng=rng)
        self._budget = budget or RateLimitBudget(
            min_remaining_threshold=options.min_remaining_threshold,
            min_reset_buffer=options.min_reset_buffer,
            max_wait=options.max_wait,
            sleep=sleep,
            clock=clock,
        )
        self._base = URL(options.base_url)
        self._etags = ETagCache(options.etag_cache_entries)
        self._shared = shared
        self._limit_labels: dict[str, dict[str, str]] = {}
        """Labels of the rate-limit gauges per resource, built once: every answer sets them."""
        self._limit_values: tuple[str | None, ...] = ()
        self._limit_parsed: RateLimitState | None = None
        """The last answer's raw x-ratelimit-* values and what they parsed to."""
        self._limit_shown: dict[str, tuple[RateLimitState, int]] = {}
        """Per resource: the state the gauges were last set to, and `SelfMetrics.removals` then."""
        self._count_labels: dict[tuple[str, str], dict[str, str]] = {}
        self._base_origin = _origin(self._base)
        self._base_text = str(self._base.with_query(None).with_fragment(None)).rstrip("/")
        self._headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": options.api_version,
            "User-Agent": options.user_agent,
        }

    async def __aenter__(self) -> Self:
        if self._transport is None:
            self._session = create_session(self._options)
            self._transport = AiohttpTransport(self._session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._shared is not None:
            await self._shared.flush()
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._transport = None

    @property
    def budget(self) -> RateLimitBudget:
        return self._budget

    @property
    def shared(self) -> SharedResponses | None:
        """Where this client's ETag entries are shared with other replicas (None: this process only)."""
        return self._shared

    def rate_limit(self, resource: str = "core") -> RateLimitState | None:
        """The newest known budget of ``resource`` (None before the first response says so)."""
        return self._budget.state(resource)

    async def fetch_rate_limits(self) -> dict[str, RateLimitState]:
        """GET /rate_limit (free for the primary limit) and feed every resource into the budget.

        A cheap authenticated liveness probe that also tells the budget about resources not used yet.
        """
        response = await self.get("/rate_limit", endpoint="rate_limit", conditional=False)
        try:
            body = msgspec.convert(response.data, type=_RateLimitBody)
        except msgspec.ValidationError:
            return {}  # not the documented shape: nothing learnt, the probe itself still answered
        states: dict[str, RateLimitState] = {}
        for name, raw in body.resources.items():
            try:
                entry = msgspec.convert(raw, type=_RateLimitEntry)
            except msgspec.ValidationError:
                continue  # one unreadable resource must not hide the others
            parsed = RateLimitState(entry.limit, entry.remaining, entry.used, entry.reset, name)
            states[name] = self._budget.update(parsed)
        return states

    # --- requests ------------------------------------------------------------------------------

    async def get(
        self,
        path_or_url: str,
        *,
        endpoint: str,
        params: Mapping[str, str | int] | None = None,
        accept: Collection[int] = (200,),
        conditional: bool = True,
        decode_unchanged: bool = True,
        shared_first: bool = False,
    ) -> Response:
        """GET a path under the base URL (or an absolute URL on the API origin) and decode the JSON.

        Statuses in ``accept`` are returned; a 304 to a conditional request returns the cached body,
        decoded again from the stored bytes — or ``data=None`` with ``decode_unchanged=False``, for a
        caller to whom "not modified" is the whole answer.
        An accepted answer whose body is not valid JSON (truncated, garbled) is retried like a 5xx and
        raises `MalformedResponse` once the attempts are spent; it is never put in the ETag cache.
        Anything else goes through the retry policy and ends in a typed `GitHubError`.
        With shared ETags (``shared``), a URL this process has no entry for is looked up in the store,
        and with ``shared_first`` always (a URL several replicas ask each cycle, like an org's
        listing); a 304 that stands for a body this process had not seen is returned decoded and not
        ``not_modified``, as the 200 it replaces would have been.
        """
        url = self._resolve(path_or_url, params)
        if not self._tracing.enabled:
            return await self._get(url, endpoint, accept, conditional, decode_unchanged, None, shared_first)
        # Only the route template goes into the span: never the URL, its query string or a header.
        route = route_template(url.path, prefix=self._base.path)
        attributes = {
            "http.request.method": "GET",
            "http.route": route,
            "github.endpoint": endpoint,
            "github.org": self._org,
        }
        note = _Trace()
        with self._tracing.span("github.request", attributes, child_only=True) as span:
            try:
                return await self._get(
                    url, endpoint, accept, conditional, decode_unchanged, note, shared_first
                )
            finally:
                if note.status:
                    span.set("http.response.status_code", note.status)
                span.set("github.retries", max(0, note.attempts - 1))
                span.set("github.rate_limit_wait_seconds", round(note.waited, 3))

    async def _get(
        self,
        url: URL,
        endpoint: str,
        accept: Collection[int],
        conditional: bool,
        decode_unchanged: bool,
        note: _Trace | None,
        shared_first: bool = False,
    ) -> Response:
        key = str(url)
        resource = resource_for(url.path)
        attempts = self._retrier.attempts(endpoint)
        may_refresh = getattr(self._auth, "refreshable", True)
        secondary_hits = 0
        adopted = await self._adopt_shared(key, shared_first) if conditional else None
        while True:
            waited = await self._wait_for_budget(resource)
            cached = self._etags.get(key) if conditional else None
            if note is not None:
                note.attempts += 1
                note.waited += waited
            try:
                raw = await self._exchange(url, endpoint, cached.etag if cached else None)
            except AuthError as exc:
                if not await attempts.backoff(exc, exc.reason):
                    raise
                continue
            except TransportError as exc:
                self._count(endpoint, "error")
                failure = GitHubTransportError(
                    str(exc), endpoint=endpoint, url_path=url.path, reason=exc.reason
                )
                if not await attempts.backoff(failure, exc.reason):
                    raise failure from exc
                continue

            status = raw.status
            if note is not None:
                note.status = status
            if status == 304 and cached is not None:
                self._metrics.inc(metrics.GITHUB_ETAG_HITS, {"org": self._org, "endpoint": endpoint})
                merged = CIMultiDict(cached.headers)
                merged.update(raw.headers)
                await self._keep_shared(key, cached)
                if cached.etag == adopted:
                    # The body another replica saw: new to this process, so it is data, not "unchanged".
                    return Response(200, _decode_cached(cached.body), CIMultiDictProxy(merged), False, key)
                if decode_unchanged:
                    return Response(200, _decode_cached(cached.body), CIMultiDictProxy(merged), True, key)
                return Response(200, None, CIMultiDictProxy(merged), True, key, unread=cached.body)
            if status in accept:
                try:
                    data = _decode(raw, endpoint, url)
                except MalformedResponse as exc:
                    # A body cut short or garbled on the way (proxy, reset stream) is a transient fault:
                    # asking again usually gets the whole document. Nothing was cached from it.
                    if not await attempts.backoff(exc, "invalid_body"):
                        raise
                    continue
                response, kept = self._accept(raw, data, key, conditional)
                if kept is not None and self._shared is not None:
                    await self._shared.put(key, kept)
                return response

            message = _error_message(raw.body)
            if status == 401 and may_refresh:
                # One refresh cures an installation token revoked or expired early; a retry is free.
                may_refresh = False
                self._auth.invalidate()
                attempts.again("unauthorized")
                continue
            kind = classify_limit(status, raw.headers, message)
            if kind is not None:
                secondary_hits += kind is LimitKind.SECONDARY
                await self._limited(kind, raw, resource, endpoint, attempts, message, secondary_hits)
                continue  # the next _wait_for_budget takes the pause
            error = http_error_for(status, message or f"unexpected HTTP {status}", endpoint, url.path)
            retry_after = header(raw.headers, "retry-after")
            hint = parse_retry_after(retry_after, self._clock()) if retry_after else None
            if not await attempts.backoff(error, "server_error", at_least=hint):
                raise error

    async def paginate(
        self,
        path: str,
        *,
        endpoint: str,
        params: Mapping[str, str | int] | None = None,
        max_pages: int | None = None,
        accept: Collection[int] = (200,),
    ) -> AsyncIterator[Response]:
        """Yield every page, following ``Link: rel="next"`` exactly as GitHub wrote it.

        Stops after ``max_pages`` (default ``options.max_pages``); if GitHub still offered a next
        page, the last yielded `Response` has ``truncated=True``. A next link to another origin
        raises `ForeignHostError` before anything is sent there.
        """
        cap = max_pages if max_pages is not None else self._options.max_pages
        target: str = path
        query = params
        for page in range(1, cap + 1):
            response = await self.get(target, endpoint=endpoint, params=query, accept=accept)
            following = next_link(header(response.headers, "link"))
            if following is None:
                yield response
                return
            if page == cap:
                log.info("pagination cap reached", org=self._org, endpoint=endpoint, pages=cap)
                yield replace(response, truncated=True)
                return
            yield response
            target, query = following, None

    # --- internals -----------------------------------------------------------------------------

    def _resolve(self, path_or_url: str, params: Mapping[str, str | int] | None) -> URL:
        if path_or_url.startswith(("http://", "https://")):
            # Follow server-given URLs byte for byte; re-quoting could change the cursor.
            url = URL(path_or_url, encoded=True)
            self._check_origin(url)
        else:
            text = _plain_target(path_or_url, params)
            if text is not None:
                # Nothing to quote: the URL as text, parsed once (what the general case below yields).
                return URL(self._base_text + text, encoded=True)
            relative = URL(path_or_url)
            prefix = self._base.path.rstrip("/")
            url = self._base.with_path(f"{prefix}/{relative.path.lstrip('/')}").with_query(relative.query)
        if params:
            url = url.update_query({k: str(v) for k, v in params.items()})
        return url

    def _check_origin(self, url: URL) -> None:
        if _origin(url) != self._base_origin:
            raise ForeignHostError(str(url.origin()), str(self._base.origin()))

    async def _limited(
        self,
        kind: LimitKind,
        raw: Answer,
        resource: str,
        endpoint: str,
        attempts: Attempts,
        message: str,
        secondary_hits: int,
    ) -> None:
        """Book a rate-limit answer: block the budget until the retry time, count the retry or raise."""
        secondary = kind is LimitKind.SECONDARY
        if secondary:
            self._metrics.inc(metrics.GITHUB_SECONDARY_LIMIT_HITS, {"org": self._org})
        retry_at = self._limit_retry_at(kind, raw, resource, secondary_hits)
        log.warning(
            "github rate limited",
            org=self._org,
            endpoint=endpoint,
            status=raw.status,
            kind=str(kind),
            retry_in=round(retry_at - self._clock(), 1),
        )
        if attempts.last or retry_at - self._clock() > self._options.max_wait:
            raise RateLimited(retry_at, secondary, message)
        # No sleep here: the budget now blocks until retry_at, and the next attempt waits for it.
        attempts.advance("secondary_limit" if secondary else "primary_limit")

    async def _exchange(self, url: URL, endpoint: str, etag: str | None) -> Answer:
        """One attempt: send, follow same-origin redirects, count and account every hop."""
        if self._transport is None:
            msg = "GitHubClient is not open; use 'async with GitHubClient(...)'"
            raise RuntimeError(msg)
        for _hop in range(MAX_REDIRECTS + 1):
            self._check_origin(url)  # the Authorization header below is for the API origin only
            headers = {**self._headers, "Authorization": await self._auth.authorization()}
            if etag:
                headers["If-None-Match"] = etag
            raw = await self._transport.send(Request("GET", url, headers, self._options.request_timeout))
            self._account(endpoint, raw)
            location = header(raw.headers, "location")
            if raw.status not in _REDIRECTS or not location:
                return raw
            url = url.join(URL(location, encoded=True))
        msg = f"more than {MAX_REDIRECTS} redirects"
        raise GitHubHTTPError(raw.status, msg, endpoint, url.path)

    def fit_etag_cache(self, repositories: int) -> None:
        """Size the ETag cache for an org of ``repositories``: never below `ClientOptions.etag_cache_entries`.

        A steady cycle asks every cached URL in turn; a bound below that working set would evict each
        entry just before its next use and turn every 304 into a 200 (docs/configuration.md,
        `github.etag_cache_entries`).
        """
        self._etags.resize(max(self._options.etag_cache_entries, ETAG_ENTRIES_PER_REPOSITORY * repositories))

    def _accept(
        self, raw: Answer, data: Any, key: str, conditional: bool
    ) -> tuple[Response, CachedResponse | None]:
        """The response for an accepted status whose body decoded, and the ETag entry it left, if any."""
        kept = None
        if conditional and raw.status == 200:
            etag = header(raw.headers, "etag")
            if etag:
                # The raw bytes, not ``data``: parsed JSON would be GC-tracked objects kept for hours.
                # With sharing, the caller writes it through to the store at once: shared as of now.
                shared_at = self._clock() if self._shared is not None else 0.0
                kept = CachedResponse(etag, raw.body, tuple(raw.headers.items()), shared_at)
                self._keep(key, kept)
            else:
                self._etags.discard(key)
        return Response(raw.status, data, raw.headers, False, key), kept

    def _keep(self, key: str, entry: CachedResponse) -> None:
        evicted = self._etags.evictions
        self._etags.put(key, entry)
        if self._etags.evictions != evicted:
            self._metrics.inc(
                metrics.GITHUB_ETAG_EVICTIONS, {"org": self._org}, self._etags.evictions - evicted
            )

    async def _adopt_shared(self, key: str, shared_first: bool) -> str | None:
        """Take the store's entry for ``key`` when this process has none (or always, ``shared_first``).

        Returns the adopted ETag when the store's entry replaced or filled this process's, else None.
        """
        shared = self._shared
        if shared is None:
            return None
        own = self._etags.get(key)
        if not shared_first:
            if own is not None:
                return None
            if not shared.worth_asking():
                self._metrics.inc(metrics.GITHUB_SHARED_ETAG_LOOKUPS, {"org": self._org, "result": "skipped"})
                return None
        found = await shared.get(key)
        result = "miss" if found is None else "same" if own is not None and own.etag == found.etag else "hit"
        if own is None:
            shared.tally(found is not None)
        self._metrics.inc(metrics.GITHUB_SHARED_ETAG_LOOKUPS, {"org": self._org, "result": result})
        if found is None or result == "same":
            return None
        self._keep(key, replace(found, shared_at=self._clock()))
        return found.etag

    async def _share(self, key: str, entry: CachedResponse) -> None:
        """Write a new entry through to the store, so every replica asks with its validator."""
        if self._shared is not None:
            self._keep(key, replace(entry, shared_at=self._clock()))
            await self._shared.put(key, entry)

    async def _keep_shared(self, key: str, entry: CachedResponse) -> None:
        """Write an entry this process keeps using back before the store forgets it (half a TTL)."""
        if self._shared is None:
            return
        if self._shared.stale(entry, self._clock()):
            await self._share(key, entry)
        else:
            await self._shared.flush_due()

    def _limit_retry_at(self, kind: LimitKind, raw: Answer, resource: str, hits: int) -> float:
        """When to try again, in GitHub's documented order: Retry-After, then reset, then >= 1 min."""
        now = self._clock()
        retry_after = header(raw.headers, "retry-after")
        wait = parse_retry_after(retry_after, now) if retry_after else None
        state = RateLimitState.from_headers(raw.headers)
        if wait is None and state is not None and state.remaining == 0 and state.reset_at is not None:
            wait = max(state.reset_at + self._options.min_reset_buffer - now, self._options.min_reset_buffer)
        if wait is None:
            # Repeated secondary hits back off exponentially, as GitHub asks.
            base = max(self._options.secondary_limit_backoff, SECONDARY_LIMIT_MIN_WAIT)
            wait = base * 2 ** max(0, hits - 1)
        retry_at = now + wait
        if kind is LimitKind.SECONDARY:
            # Secondary limits apply to the whole installation, so every request pauses.
            self._budget.block_until(retry_at, secondary=True)
        else:
            # Block only this resource (a spent search budget must not stop core calls); also covers
            # a reset in the past (clock skew) or a missing reset header.
            limit = state.limit if state is not None else None
            self._budget.update(
                RateLimitState(limit, 0, None, retry_at - self._options.min_reset_buffer, resource)
            )
        return retry_at

    async def _wait_for_budget(self, resource: str) -> float:
        """Wait until ``resource`` has budget; returns the seconds paused."""
        waited = 0.0
        for pause in await self._budget.wait_for_budget(resource):
            waited += pause.seconds
            self._metrics.inc(metrics.GITHUB_RATE_LIMIT_WAITS, {"org": self._org, "reason": pause.reason})
            self._metrics.inc(metrics.GITHUB_RATE_LIMIT_WAIT_SECONDS, {"org": self._org}, pause.seconds)
            log.info(
                "github rate-limit pause", org=self._org, reason=pause.reason, seconds=round(pause.seconds, 1)
            )
        return waited

    def _count(self, endpoint: str, status_class: str) -> None:
        labels = self._count_labels.get((endpoint, status_class))
        if labels is None:
            labels = {"org": self._org, "endpoint": endpoint, "status_class": status_class}
            self._count_labels[endpoint, status_class] = labels
        self._metrics.inc(metrics.GITHUB_REQUESTS, labels)

    def _account(self, endpoint: str, raw: Answer) -> None:
        self._count(endpoint, _status_class(raw.status))
        # Answers in a row mostly carry the same x-ratelimit-* values (a 304 costs no budget): parse
        # and publish only what changed (docs/benchmarks.md, "Steady cycle: fewer turns per repository").
        values = limit_headers(raw.headers)
        if values != self._limit_values:
            self._limit_values, self._limit_parsed = values, RateLimitState.from_values(values)
        parsed = self._limit_parsed
        if parsed is None:
            return
        state = self._budget.update(parsed)
        resource = state.resource or "core"
        shown = (state, self._metrics.removals)
        if self._limit_shown.get(resource) == shown:
            return  # the gauges hold these values already (nothing was removed since they were set)
        self._limit_shown[resource] = shown
        labels = self._limit_labels.get(resource)
        if labels is None:
            labels = {"org": self._org, "installation_id": self._installation_id, "resource": resource}
            self._limit_labels[resource] = labels
        if state.remaining is not None:
            self._metrics.set(metrics.GITHUB_RATE_LIMIT_REMAINING, labels, state.remaining)
            if resource == "core":
                # The Go exporter's alias had no resource label; it always meant the core budget.
                compat = {"org": self._org, "installation_id": self._installation_id}
                self._metrics.set(metrics.GITHUB_RATE_LIMIT_REMAINING_COMPAT, compat, state.remaining)
        if state.limit is not None:
            self._metrics.set(metrics.GITHUB_RATE_LIMIT_LIMIT, labels, state.limit)
        if state.reset_at is not None:
            self._metrics.set(metrics.GITHUB_RATE_LIMIT_RESET, labels, state.reset_at)
