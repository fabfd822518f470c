# mypy: allow-untyped-defs, allow-incomplete-defs
"""GitHubClient against a scripted fake: headers, URLs, pagination, ETags, rate limits, retries, metrics."""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import time
from email.utils import formatdate
from typing import Any

import aiohttp
import pytest

from github_stats_exporter import metrics
from github_stats_exporter.github.auth import AppAuth, TokenAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient, next_link
from github_stats_exporter.github.errors import (
    Conflict,
    Forbidden,
    ForeignHostError,
    GitHubHTTPError,
    GitHubTransportError,
    MalformedResponse,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    Unprocessable,
)
from github_stats_exporter.github.etag import CachedResponse, ETagCache
from github_stats_exporter.selfmetrics import SelfMetrics

from .conftest import answer

REPOS = "/orgs/acme/repos"
SECONDARY_TEXT = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
ABUSE_TEXT = (
    "You have triggered an abuse detection mechanism. Please wait a few minutes before you try again."
)


def rl(remaining: int, reset_at: float, *, limit: int = 5000, resource: str = "core") -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-used": str(limit - remaining),
        "x-ratelimit-reset": str(int(reset_at)),
        "x-ratelimit-resource": resource,
    }


def requests_total(self_metrics: SelfMetrics, endpoint: str, status_class: str) -> float:
    labels = {"org": "acme", "endpoint": endpoint, "status_class": status_class}
    return self_metrics.value(metrics.GITHUB_REQUESTS, labels)


def retries(self_metrics: SelfMetrics, endpoint: str, reason: str) -> float:
    return self_metrics.value(metrics.GITHUB_RETRIES, {"org": "acme", "endpoint": endpoint, "reason": reason})


class CountingAuth:
    """A refreshable credential that counts invalidations."""

    refreshable = True

    def __init__(self) -> None:
        self.invalidated = 0

    async def authorization(self) -> str:
        return f"Bearer ghs_{self.invalidated}"

    def invalidate(self) -> None:
        self.invalidated += 1


# --- request shape ------------------------------------------------------------------------------


async def test_every_request_carries_the_api_headers(fake_github, make_client) -> None:
    """Accept, X-GitHub-Api-Version, a real User-Agent and the Authorization header are always sent."""
    fake_github.on(REPOS, fake_github.reply(200, []))
    client = await make_client()

    await client.get(REPOS, endpoint="list_org_repos")

    [seen] = fake_github.seen
    assert seen.headers["Accept"] == "application/vnd.github+json"
    assert seen.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert seen.headers["User-Agent"].startswith("github-stats-exporter/")
    assert seen.headers["Authorization"] == "Bearer ghp_testtoken"


async def test_paths_keep_the_ghes_prefix_and_params(fake_github, make_client) -> None:
    """A GHES base (/api/v3) prefixes every path; params become the query string."""
    fake_github.on("/api/v3" + REPOS, fake_github.reply(200, [{"name": "widgets"}]))
    client = await make_client(prefix="/api/v3")

    response = await client.get(REPOS, endpoint="list_org_repos", params={"per_page": 100, "type": "all"})

    assert response.data == [{"name": "widgets"}]
    assert fake_github.seen[0].path == "/api/v3" + REPOS
    assert fake_github.seen[0].query_string == "per_page=100&type=all"


async def test_app_auth_on_ghes_exchanges_and_calls_under_the_prefix(
    served_github, app_key, clock, sleeper, self_metrics, token_endpoint
) -> None:
    """App auth against a GHES base over aiohttp: token exchange and data call both go to <host>/api/v3."""
    fake_github = served_github
    fake_github.on(
        "/api/v3/app/installations/42/access_tokens", token_endpoint(app_key, clock), method="POST"
    )
    fake_github.on("/api/v3" + REPOS, fake_github.reply(200, []))
    base = fake_github.url("/api/v3")
    async with aiohttp.ClientSession() as session:
        auth = AppAuth(
            123,
            42,
            app_key.private_pem,
            api_base_url=base,
            session=session,
            clock=clock,
            user_agent="ua",
            api_version="2022-11-28",
        )
        options = ClientOptions(base_url=base)
        async with GitHubClient(
            options, auth, org="acme", metrics=self_metrics, session=session, sleep=sleeper, clock=clock
        ) as client:
            await client.get(REPOS, endpoint="list_org_repos")
        assert not session.closed  # a passed-in session belongs to the caller

    assert [seen.path for seen in fake_github.seen] == [
        "/api/v3/app/installations/42/access_tokens",
        "/api/v3" + REPOS,
    ]
    assert fake_github.seen[1].headers["Authorization"] == "Bearer ghs_1"


# --- pagination ---------------------------------------------------------------------------------


def script_pages(fake, path: str, pages: int, *, broken: tuple[int, ...] = ()) -> None:
    """Pages 1..n; each Link points at the next page with an opaque cursor that must be kept verbatim.

    Each page in ``broken`` is first answered once with its headers but a body cut in the middle.
    """
    replies = []
    for page in range(1, pages + 1):
        headers = {}
        if page < pages:
            following = fake.url(f"{path}?per_page=2&after=Y3Vyc29y{page}%3D%3D")
            headers["Link"] = f'<{following}>; rel="next", <{fake.url(path)}?page=9>; rel="last"'
        if page in broken:
            replies.append(fake.reply(200, body=b'[{"page": ', headers=headers))
        replies.append(fake.reply(200, [{"page": page}], headers=headers))
    fake.on(path, *replies)


async def test_paginate_follows_link_next_exactly(fake_github, make_client) -> None:
    """Three pages are fetched by following rel="next" byte for byte; the last is not truncated."""
    script_pages(fake_github, REPOS, 3)
    client = await make_client()

    pages = [page async for page in client.paginate(REPOS, endpoint="list_org_repos", params={"per_page": 2})]

    assert [page.data for page in pages] == [[{"page": 1}], [{"page": 2}], [{"page": 3}]]
    assert [page.truncated for page in pages] == [False, False, False]
    assert [seen.raw_path for seen in fake_github.seen] == [
        f"{REPOS}?per_page=2",
        f"{REPOS}?per_page=2&after=Y3Vyc29y1%3D%3D",
        f"{REPOS}?per_page=2&after=Y3Vyc29y2%3D%3D",
    ]


async def test_paginate_stops_at_the_page_cap_and_says_so(fake_github, make_client) -> None:
    """With max_pages=2 of 3, two pages are fetched and the last one is marked truncated."""
    script_pages(fake_github, REPOS, 3)
    client = await make_client()

    pages = [page async for page in client.paginate(REPOS, endpoint="list_org_repos", max_pages=2)]

    assert [page.truncated for page in pages] == [False, True]
    assert len(fake_github.seen) == 2


async def test_link_to_a_foreign_host_is_refused(fake_github, foreign_github, make_client) -> None:
    """A next link to another origin raises ForeignHostError and nothing is sent there."""
    fake_github.on(
        REPOS,
        fake_github.reply(200, [1], headers={"Link": f'<{foreign_github.url(REPOS)}?page=2>; rel="next"'}),
    )
    client = await make_client()

    with pytest.raises(ForeignHostError):
        _ = [page async for page in client.paginate(REPOS, endpoint="list_org_repos")]
    with pytest.raises(ForeignHostError):
        await client.get(foreign_github.url(REPOS), endpoint="list_org_repos")

    assert foreign_github.seen == []


async def test_redirects_are_followed_on_the_api_host_only(fake_github, foreign_github, make_client) -> None:
    """A same-origin redirect is followed with credentials; a cross-origin one is refused unsent."""
    fake_github.on("/repos/acme/old", fake_github.reply(301, headers={"Location": "/repos/acme/new"}))
    fake_github.on("/repos/acme/new", fake_github.reply(200, {"name": "new"}))
    fake_github.on("/repos/acme/away", fake_github.reply(302, headers={"Location": foreign_github.url("/x")}))
    client = await make_client()

    moved = await client.get("/repos/acme/old", endpoint="get_repo")
    with pytest.raises(ForeignHostError):
        await client.get("/repos/acme/away", endpoint="get_repo")

    assert moved.data == {"name": "new"}
    assert fake_github.requests_to("/repos/acme/new")[0].headers["Authorization"] == "Bearer ghp_testtoken"
    assert foreign_github.seen == []


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        pytest.param(
            '<https://x/a?page=2>; rel="next", <https://x/a?page=5>; rel="last"',
            "https://x/a?page=2",
            id="next-first",
        ),
        pytest.param(
            '<https://x/a?page=1>; rel="prev", <https://x/a?page=3>; rel="next"',
            "https://x/a?page=3",
            id="next-later",
        ),
        pytest.param('<https://x/a?page=1>; rel="first"', None, id="no-next"),
        pytest.param("", None, id="empty"),
    ],
)
def test_next_link_parsing(link: str, expected: str | None) -> None:
    """Only the rel="next" target is taken from a Link header."""
    assert next_link(link) == expected


# --- conditional requests -----------------------------------------------------------------------


async def test_etag_304_returns_cached_body_for_free(fake_github, make_client, self_metrics) -> None:
    """The second request sends If-None-Match; a 304 returns the cached data and counts as 3xx + ETag hit."""
    fake_github.on(
        REPOS,
        fake_github.reply(
            200, [{"name": "widgets"}], headers={"ETag": '"abc"', "Link": '<http://x/?page=2>; rel="last"'}
        ),
        fake_github.reply(304, headers={"ETag": '"abc"', **rl(4999, time.time() + 3600)}),
    )
    client = await make_client()

    first = await client.get(REPOS, endpoint="list_org_repos")
    second = await client.get(REPOS, endpoint="list_org_repos")

    assert "If-None-Match" not in fake_github.seen[0].headers
    assert fake_github.seen[1].headers["If-None-Match"] == '"abc"'
    assert (second.status, second.data, second.not_modified) == (200, first.data, True)
    assert second.headers["Link"] == '<http://x/?page=2>; rel="last"'  # cached headers survive the 304
    assert requests_total(self_metrics, "list_org_repos", "2xx") == 1
    assert requests_total(self_metrics, "list_org_repos", "3xx") == 1
    assert self_metrics.value(metrics.GITHUB_ETAG_HITS, {"org": "acme", "endpoint": "list_org_repos"}) == 1


async def test_etag_cache_keeps_no_reference_to_decoded_bodies(fake_github, make_client) -> None:
    """Once the caller drops a cached page's decoded JSON nothing else holds it (the cache keeps bytes)."""
    fake_github.on(REPOS, fake_github.reply(200, [{"name": "widgets"}], headers={"ETag": '"abc"'}))
    client = await make_client()

    data = (await client.get(REPOS, endpoint="list_org_repos")).data

    assert data == [{"name": "widgets"}]
    assert sys.getrefcount(data) == 2  # this local and getrefcount's own argument


async def test_etag_304_answers_are_independent_of_earlier_answers(fake_github, make_client) -> None:
    """Changing the data of one answer does not change what a later 304 for the same URL returns."""
    fake_github.on(
        REPOS,
        fake_github.reply(200, [{"name": "widgets"}], headers={"ETag": '"abc"'}),
        fake_github.reply(304, headers={"ETag": '"abc"'}),
        fake_github.reply(304, headers={"ETag": '"abc"'}),
    )
    client = await make_client()

    first = await client.get(REPOS, endpoint="list_org_repos")
    first.data.append({"name": "added by a caller"})
    second = await client.get(REPOS, endpoint="list_org_repos")
    second.data[0]["name"] = "renamed by a caller"
    third = await client.get(REPOS, endpoint="list_org_repos")

    assert (second.not_modified, third.not_modified) == (True, True)
    assert third.data == [{"name": "widgets"}]


async def test_etag_304_without_decoding_returns_no_data(fake_github, make_client) -> None:
    """decode_unchanged=False answers a 304 with not_modified and no data, and a later 304 still has the body."""
    fake_github.on(
        REPOS,
        fake_github.reply(
            200, [{"name": "widgets"}], headers={"ETag": '"abc"', "Link": '<http://x/?page=2>; rel="last"'}
        ),
        fake_github.reply(304, headers={"ETag": '"abc"'}),
        fake_github.reply(304, headers={"ETag": '"abc"'}),
    )
    client = await make_client()

    await client.get(REPOS, endpoint="list_org_repos")
    bare = await client.get(REPOS, endpoint="list_org_repos", decode_unchanged=False)
    full = await client.get(REPOS, endpoint="list_org_repos")

    assert (bare.not_modified, bare.data, bare.headers["Link"]) == (
        True,
        None,
        '<http://x/?page=2>; rel="last"',
    )
    assert (full.not_modified, full.data) == (True, [{"name": "widgets"}])


async def test_unconditional_request_skips_the_etag_cache(fake_github, make_client) -> None:
    """conditional=False never sends If-None-Match."""
    fake_github.on(REPOS, fake_github.reply(200, [], headers={"ETag": '"abc"'}))
    client = await make_client()

    await client.get(REPOS, endpoint="list_org_repos")
    await client.get(REPOS, endpoint="list_org_repos", conditional=False)

    assert "If-None-Match" not in fake_github.seen[1].headers


# --- primary rate limit -------------------------------------------------------------------------


async def test_pauses_before_the_budget_is_gone(
    fake_github, make_client, clock, sleeper, self_metrics
) -> None:
    """Remaining at or below the threshold → the next request waits until reset + buffer first."""
    reset = clock.now + 100
    fake_github.on(REPOS, fake_github.reply(200, [], headers=rl(50, reset)))
    client = await make_client(min_remaining_threshold=100, min_reset_buffer=5.0)

    await client.get(REPOS, endpoint="list_org_repos")
    assert sleeper.calls == []
    await client.get(REPOS, endpoint="list_org_repos")

    assert sleeper.calls == [105.0]
    assert (
        self_metrics.value(metrics.GITHUB_RATE_LIMIT_WAITS, {"org": "acme", "reason": "primary_limit"}) == 1
    )
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_WAIT_SECONDS, {"org": "acme"}) == 105.0


async def test_no_pause_while_budget_is_above_threshold(fake_github, make_client, clock, sleeper) -> None:
    """A healthy budget never pauses."""
    fake_github.on(REPOS, fake_github.reply(200, [], headers=rl(4000, clock.now + 100)))
    client = await make_client()

    for _ in range(3):
        await client.get(REPOS, endpoint="list_org_repos")

    assert sleeper.calls == []


async def test_wait_beyond_max_wait_raises_rate_limited_without_sending(
    fake_github, make_client, clock, sleeper
) -> None:
    """If the pause would exceed max_wait, RateLimited is raised and no request is sent."""
    reset = clock.now + 2000
    fake_github.on(REPOS, fake_github.reply(200, [], headers=rl(10, reset)))
    client = await make_client(max_wait=900.0)

    await client.get(REPOS, endpoint="list_org_repos")
    with pytest.raises(RateLimited) as caught:
        await client.get(REPOS, endpoint="list_org_repos")

    assert caught.value.retry_at == reset + 5
    assert not caught.value.secondary
    assert len(fake_github.seen) == 1
    assert sleeper.calls == []


async def test_primary_limit_403_waits_for_reset_then_retries(
    fake_github, make_client, clock, sleeper, self_metrics
) -> None:
    """A 403 with remaining 0 waits until reset + buffer and then succeeds."""
    reset = clock.now + 60
    fake_github.on(
        REPOS,
        fake_github.reply(
            403, {"message": "API rate limit exceeded for installation ID 42."}, headers=rl(0, reset)
        ),
        fake_github.reply(200, [], headers=rl(4999, reset + 3600)),
    )
    client = await make_client()

    response = await client.get(REPOS, endpoint="list_org_repos")

    assert response.status == 200
    assert sleeper.calls == [65.0]
    assert retries(self_metrics, "list_org_repos", "primary_limit") == 1


# --- secondary rate limit -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "retry_after",
    [
        pytest.param(lambda now: "30", id="delta-seconds"),
        pytest.param(lambda now: formatdate(now + 30, usegmt=True), id="http-date"),
    ],
)
async def test_secondary_403_honours_retry_after(
    fake_github, make_client, clock, sleeper, self_metrics, retry_after
) -> None:
    """A 403 secondary limit with Retry-After (seconds or date) waits exactly that long, then retries."""
    fake_github.on(
        REPOS,
        fake_github.reply(403, {"message": SECONDARY_TEXT}, headers={"Retry-After": retry_after(clock.now)}),
        fake_github.reply(200, []),
    )
    client = await make_client()

    await client.get(REPOS, endpoint="list_org_repos")

    assert sleeper.calls == [30.0]
    assert self_metrics.value(metrics.GITHUB_SECONDARY_LIMIT_HITS, {"org": "acme"}) == 1
    assert (
        self_metrics.value(metrics.GITHUB_RATE_LIMIT_WAITS, {"org": "acme", "reason": "secondary_limit"}) == 1
    )
    assert retries(self_metrics, "list_org_repos", "secondary_limit") == 1


@pytest.mark.parametrize(
    ("status", "message", "backoff", "expected"),
    [
        pytest.param(429, "", 60.0, 60.0, id="429-default-backoff"),
        pytest.param(429, "", 90.0, 90.0, id="429-configured-backoff"),
        pytest.param(429, "", 10.0, 60.0, id="429-at-least-a-minute"),
        pytest.param(403, SECONDARY_TEXT, 60.0, 60.0, id="403-secondary-message"),
        pytest.param(403, ABUSE_TEXT, 60.0, 60.0, id="403-abuse-message"),
    ],
)
async def test_secondary_limit_without_retry_after_uses_the_backoff(
    fake_github, make_client, sleeper, status, message, backoff, expected
) -> None:
    """Without Retry-After the wait is max(secondary_limit_backoff, 60 s); documented messages are recognised."""
    fake_github.on(REPOS, fake_github.reply(status, {"message": message}), fake_github.reply(200, []))
    client = await make_client(secondary_limit_backoff=backoff)

    await client.get(REPOS, endpoint="list_org_repos")

    assert sleeper.calls == [expected]


async def test_secondary_limits_give_up_after_max_attempts(
    fake_github, make_client, sleeper, self_metrics
) -> None:
    """Persistent secondary limits end in RateLimited(secondary=True) after max_attempts requests."""
    fake_github.on(REPOS, fake_github.reply(429, {"message": SECONDARY_TEXT}))
    client = await make_client(max_attempts=3, max_wait=10_000)

    with pytest.raises(RateLimited) as caught:
        await client.get(REPOS, endpoint="list_org_repos")

    assert caught.value.secondary
    assert len(fake_github.seen) == 3
    assert sleeper.calls == [60.0, 120.0]  # repeated hits back off exponentially
    assert self_metrics.value(metrics.GITHUB_SECONDARY_LIMIT_HITS, {"org": "acme"}) == 3


async def test_secondary_wait_beyond_max_wait_fails_fast(fake_github, make_client, clock, sleeper) -> None:
    """A Retry-After longer than max_wait raises at once, and blocks the installation's other requests."""
    fake_github.on(
        REPOS, fake_github.reply(403, {"message": SECONDARY_TEXT}, headers={"Retry-After": "5000"})
    )
    client = await make_client(max_wait=900.0)

    with pytest.raises(RateLimited) as caught:
        await client.get(REPOS, endpoint="list_org_repos")
    with pytest.raises(RateLimited):
        await client.get("/orgs/acme/members", endpoint="list_members")

    assert caught.value.retry_at == clock.now + 5000
    assert len(fake_github.seen) == 1
    assert sleeper.calls == []


async def test_plain_403_is_forbidden_without_retry(fake_github, make_client, clock, sleeper) -> None:
    """A 403 with budget left and no rate-limit text is a permission error: Forbidden, one request."""
    fake_github.on(
        REPOS,
        fake_github.reply(
            403, {"message": "Resource not accessible by integration"}, headers=rl(4000, clock.now + 60)
        ),
    )
    client = await make_client()

    with pytest.raises(Forbidden) as caught:
        await client.get(REPOS, endpoint="list_org_repos")

    assert caught.value.status == 403
    assert "not accessible" in caught.value.message
    assert len(fake_github.seen) == 1
    assert sleeper.calls == []


# --- retries ------------------------------------------------------------------------------------


async def test_server_errors_retry_with_full_jitter(fake_github, make_client, sleeper, self_metrics) -> None:
    """500 then 502 then 200: two sleeps drawn uniformly from [0, 1] and [0, 2] with the seeded rng."""
    fake_github.on(REPOS, fake_github.reply(500), fake_github.reply(502), fake_github.reply(200, ["ok"]))
    client = await make_client(initial_backoff=1.0, max_backoff=30.0, rng=random.Random(7))

    response = await client.get(REPOS, endpoint="list_org_repos")

    expected_rng = random.Random(7)
    assert response.data == ["ok"]
    assert sleeper.calls == [expected_rng.uniform(0, 1.0), expected_rng.uniform(0, 2.0)]
    assert retries(self_metrics, "list_org_repos", "server_error") == 2
    assert requests_total(self_metrics, "list_org_repos", "5xx") == 2


async def test_server_errors_are_bounded_by_max_attempts(fake_github, make_client, sleeper) -> None:
    """A persistent 503 ends in ServerError after max_attempts; without jitter the sleeps are the caps."""
    fake_github.on(REPOS, fake_github.reply(503, {"message": "unavailable"}))
    client = await make_client(max_attempts=4, jitter=False, initial_backoff=1.0, max_backoff=3.0)

    with pytest.raises(ServerError):
        await client.get(REPOS, endpoint="list_org_repos")

    assert len(fake_github.seen) == 4
    assert sleeper.calls == [1.0, 2.0, 3.0]


async def test_timeouts_retry_then_succeed(fake_github, make_client, self_metrics) -> None:
    """A request slower than request_timeout is retried and counted as a transport error."""
    fake_github.on(REPOS, fake_github.reply(200, [], delay=0.2), fake_github.reply(200, ["fast"]))
    client = await make_client(request_timeout=0.05)

    response = await client.get(REPOS, endpoint="list_org_repos")

    assert response.data == ["fast"]
    assert retries(self_metrics, "list_org_repos", "timeout") == 1
    assert requests_total(self_metrics, "list_org_repos", "error") == 1


async def test_connection_reset_retries_then_raises_transport_error(
    fake_github, make_client, sleeper, self_metrics
) -> None:
    """Dropped connections are retried up to max_attempts, then GitHubTransportError."""
    fake_github.on(REPOS, fake_github.reset_connection())
    client = await make_client(max_attempts=2)

    with pytest.raises(GitHubTransportError) as caught:
        await client.get(REPOS, endpoint="list_org_repos")

    assert caught.value.url_path == REPOS
    assert len(sleeper.calls) == 1
    assert retries(self_metrics, "list_org_repos", "connection") == 1
    assert requests_total(self_metrics, "list_org_repos", "error") == 2


async def test_connection_reset_then_success(fake_github, make_client) -> None:
    """One dropped connection does not fail the call."""
    fake_github.on(REPOS, fake_github.reset_connection(), fake_github.reply(200, ["ok"]))
    client = await make_client()

    assert (await client.get(REPOS, endpoint="list_org_repos")).data == ["ok"]


async def test_401_refreshes_the_token_once(fake_github, make_client, sleeper, self_metrics) -> None:
    """A 401 invalidates a refreshable credential and retries once; a second 401 is Unauthorized."""
    fake_github.on(REPOS, fake_github.reply(401, {"message": "Bad credentials"}))
    auth = CountingAuth()
    client = await make_client(auth=auth)

    with pytest.raises(Unauthorized):
        await client.get(REPOS, endpoint="list_org_repos")

    assert auth.invalidated == 1
    assert [seen.headers["Authorization"] for seen in fake_github.seen] == ["Bearer ghs_0", "Bearer ghs_1"]
    assert sleeper.calls == []
    assert retries(self_metrics, "list_org_repos", "unauthorized") == 1


async def test_401_with_a_fixed_token_is_not_retried(fake_github, make_client) -> None:
    """A PAT cannot be refreshed, so one 401 is final."""
    fake_github.on(REPOS, fake_github.reply(401, {"message": "Bad credentials"}))
    client = await make_client(auth=TokenAuth("ghp_x"))

    with pytest.raises(Unauthorized):
        await client.get(REPOS, endpoint="list_org_repos")

    assert len(fake_github.seen) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(404, NotFound, id="404"),
        pytest.param(409, Conflict, id="409"),
        pytest.param(422, Unprocessable, id="422"),
        pytest.param(400, GitHubHTTPError, id="400"),
    ],
)
async def test_client_errors_are_not_retried(fake_github, make_client, sleeper, status, error) -> None:
    """404/409/422 and other 4xx raise their typed error after exactly one request."""
    fake_github.on(REPOS, fake_github.reply(status, {"message": "nope"}))
    client = await make_client()

    with pytest.raises(error) as caught:
        await client.get(REPOS, endpoint="list_org_repos")

    assert caught.value.status == status
    assert len(fake_github.seen) == 1
    assert sleeper.calls == []


async def test_accepted_statuses_are_returned(fake_github, make_client) -> None:
    """Statuses the caller accepts come back as responses; 204 has no data."""
    stats = "/repos/acme/w/stats/contributors"
    fake_github.on(
        stats,
        fake_github.reply(202, {}),
        fake_github.reply(204),
        fake_github.reply(409, {"message": "empty"}),
    )
    client = await make_client()

    statuses = [
        (await client.get(stats, endpoint="get_contributor_stats", accept=(200, 202, 204, 409))).status
        for _ in range(3)
    ]

    assert statuses == [202, 204, 409]


# --- bodies that do not decode ------------------------------------------------------------------

JSON = {"Content-Type": "application/json; charset=utf-8"}


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(b'[{"name": "widg', JSON, id="cut-in-the-middle"),
        pytest.param(b'{"message": <html>oops[{"name"', JSON, id="garbled"),
        pytest.param(b"<html>Bad gateway</html>", {"Content-Type": "text/html"}, id="html-page"),
    ],
)
async def test_a_body_broken_once_is_retried(
    fake_github, make_client, sleeper, self_metrics, body, headers
) -> None:
    """A 200 whose body does not decode is retried with the jittered backoff; the next whole body wins."""
    fake_github.on(
        REPOS,
        fake_github.reply(200, body=body, headers={**headers, "ETag": '"broken"'}),
        fake_github.reply(200, [{"name": "widgets"}], headers={"ETag": '"whole"'}),
    )
    client = await make_client(initial_backoff=1.0, rng=random.Random(7))

    response = await client.get(REPOS, endpoint="list_org_repos")
    await client.get(REPOS, endpoint="list_org_repos")

    assert response.data == [{"name": "widgets"}]
    assert retries(self_metrics, "list_org_repos", "invalid_body") == 1
    assert sleeper.calls == [random.Random(7).uniform(0, 1.0)]
    assert requests_total(self_metrics, "list_org_repos", "2xx") == 3
    # Only the whole body's ETag was remembered.
    assert "If-None-Match" not in fake_github.seen[1].headers
    assert fake_github.seen[2].headers["If-None-Match"] == '"whole"'


async def test_a_body_broken_on_every_attempt_raises_and_caches_nothing(
    fake_github, make_client, sleeper, self_metrics
) -> None:
    """After max_attempts broken bodies the call raises MalformedResponse (200); no ETag of them is reused."""
    fake_github.on(REPOS, fake_github.reply(200, body=b'[{"name": "wi', headers={**JSON, "ETag": '"broken"'}))
    client = await make_client(max_attempts=3, jitter=False, initial_backoff=1.0, max_backoff=30.0)

    with pytest.raises(MalformedResponse) as caught:
        await client.get(REPOS, endpoint="list_org_repos")

    assert caught.value.status == 200
    assert caught.value.endpoint == "list_org_repos"
    assert len(fake_github.seen) == 3
    assert sleeper.calls == [1.0, 2.0]
    assert retries(self_metrics, "list_org_repos", "invalid_body") == 2
    fake_github.on(REPOS, fake_github.reply(200, [{"name": "widgets"}], headers={"ETag": '"whole"'}))
    response = await client.get(REPOS, endpoint="list_org_repos")
    assert response.data == [{"name": "widgets"}]
    assert not response.not_modified
    assert all("If-None-Match" not in seen.headers for seen in fake_github.seen)


async def test_a_broken_body_does_not_replace_a_cached_one(fake_github, make_client, self_metrics) -> None:
    """A cached 200 stays the validator while a newer answer keeps arriving broken; its 304 still serves it."""
    fake_github.on(
        REPOS,
        fake_github.reply(200, [{"name": "widgets"}], headers={"ETag": '"v1"'}),
        fake_github.reply(200, body=b'[{"na', headers={**JSON, "ETag": '"v2"'}),
        fake_github.reply(200, body=b'[{"na', headers={**JSON, "ETag": '"v2"'}),
        fake_github.reply(304, headers={"ETag": '"v1"'}),
    )
    client = await make_client(max_attempts=2)

    await client.get(REPOS, endpoint="list_org_repos")
    with pytest.raises(MalformedResponse):
        await client.get(REPOS, endpoint="list_org_repos")
    response = await client.get(REPOS, endpoint="list_org_repos")

    assert [seen.headers.get("If-None-Match") for seen in fake_github.seen] == [None, '"v1"', '"v1"', '"v1"']
    assert (response.data, response.not_modified) == ([{"name": "widgets"}], True)


async def test_a_broken_accepted_non_200_is_retried(fake_github, make_client, self_metrics) -> None:
    """Every accepted status decodes its body, so a cut 202 from the stats endpoint is retried as well."""
    stats = "/repos/acme/w/stats/contributors"
    fake_github.on(
        stats, fake_github.reply(202, body=b'{"mess', headers=JSON), fake_github.reply(200, [{"total": 3}])
    )
    client = await make_client()

    response = await client.get(stats, endpoint="get_contributor_stats", accept=(200, 202, 204))

    assert (response.status, response.data) == (200, [{"total": 3}])
    assert retries(self_metrics, "get_contributor_stats", "invalid_body") == 1


async def test_paginate_retries_a_broken_page_and_keeps_its_place(
    fake_github, make_client, self_metrics
) -> None:
    """A page cut short is fetched again from the same cursor; every page arrives once, in order."""
    script_pages(fake_github, REPOS, 3, broken=(2,))
    client = await make_client()

    pages = [page async for page in client.paginate(REPOS, endpoint="list_org_repos", params={"per_page": 2})]

    assert [page.data for page in pages] == [[{"page": 1}], [{"page": 2}], [{"page": 3}]]
    assert [seen.raw_path for seen in fake_github.seen][1:3] == [
        f"{REPOS}?per_page=2&after=Y3Vyc29y1%3D%3D"
    ] * 2
    assert retries(self_metrics, "list_org_repos", "invalid_body") == 1


async def test_cancellation_during_a_rate_limit_wait_is_prompt(fake_github, make_client, clock) -> None:
    """Cancelling a request paused for the budget raises CancelledError at once, without sending."""
    fake_github.on(REPOS, fake_github.reply(200, [], headers=rl(0, clock.now + 600)))
    client = await make_client(sleep=asyncio.sleep)
    await client.get(REPOS, endpoint="list_org_repos")
    task = asyncio.create_task(client.get(REPOS, endpoint="list_org_repos"))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.5
    assert len(fake_github.seen) == 1


# --- metrics ------------------------------------------------------------------------------------


async def test_requests_are_counted_by_endpoint_and_status_class(
    fake_github, make_client, self_metrics
) -> None:
    """Every attempt is counted under its logical endpoint and status class."""
    fake_github.on(REPOS, fake_github.reply(200, []))
    fake_github.on("/repos/acme/gone", fake_github.reply(404, {"message": "Not Found"}))
    client = await make_client()

    await client.get(REPOS, endpoint="list_org_repos")
    await client.get(REPOS, endpoint="list_org_repos")
    with pytest.raises(NotFound):
        await client.get("/repos/acme/gone", endpoint="get_repo")

    assert requests_total(self_metrics, "list_org_repos", "2xx") == 2
    assert requests_total(self_metrics, "get_repo", "4xx") == 1
    assert requests_total(self_metrics, "get_repo", "2xx") == 0


async def test_rate_limit_gauges_follow_headers_and_skip_unknowns(
    fake_github, make_client, clock, self_metrics
) -> None:
    """Remaining/limit/reset gauges carry org, installation and resource; no headers write nothing."""
    reset = clock.now + 100
    fake_github.on(REPOS, fake_github.reply(200, [], headers=rl(4321, reset)))
    fake_github.on(
        "/search/issues", fake_github.reply(200, {}, headers=rl(29, reset, limit=30, resource="search"))
    )
    fake_github.on("/meta", fake_github.reply(200, {}))
    client = await make_client()

    await client.get("/meta", endpoint="meta")
    assert not any(s.name == metrics.GITHUB_RATE_LIMIT_REMAINING.name for s in self_metrics.samples())
    await client.get(REPOS, endpoint="list_org_repos")
    await client.get("/search/issues", endpoint="search")

    core = {"org": "acme", "installation_id": "42", "resource": "core"}
    search = {**core, "resource": "search"}
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_REMAINING, core) == 4321
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_REMAINING, search) == 29
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_LIMIT, core) == 5000
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_RESET, core) == int(reset)
    compat = {"org": "acme", "installation_id": "42"}
    assert self_metrics.value(metrics.GITHUB_RATE_LIMIT_REMAINING_COMPAT, compat) == 4321
    assert client.rate_limit("core").remaining == 4321


async def get_repos_as_app(
    fake_github: Any, app_key: Any, clock: Any, sleeper: Any, self_metrics: SelfMetrics
) -> tuple[AppAuth, Any]:
    """One repo listing through an App installation token: the auth (to count exchanges) and the answer."""
    base = fake_github.url()
    auth = AppAuth(
        123,
        42,
        app_key.private_pem,
        api_base_url=base,
        transport=fake_github,
        clock=clock,
        user_agent="ua",
        api_version="v",
    )
    options = ClientOptions(base_url=base)
    async with GitHubClient(
        options, auth, org="acme", metrics=self_metrics, transport=fake_github, sleep=sleeper, clock=clock
    ) as client:
        return auth, await client.get(REPOS, endpoint="list_org_repos")


async def test_transient_token_exchange_failure_is_retried(
    fake_github, app_key, clock, sleeper, self_metrics, token_endpoint
) -> None:
    """A 502 from the token exchange is retried with backoff; the data call then succeeds."""
    fake_github.on(
        "/app/installations/42/access_tokens",
        fake_github.reply(502, {"message": "bad gateway"}),
        token_endpoint(app_key, clock),
        method="POST",
    )
    fake_github.on(REPOS, fake_github.reply(200, ["ok"]))
    _, response = await get_repos_as_app(fake_github, app_key, clock, sleeper, self_metrics)

    assert response.data == ["ok"]
    assert len(sleeper.calls) == 1
    assert retries(self_metrics, "list_org_repos", "server_error") == 1


async def test_a_broken_token_grant_is_retried_as_invalid_body(
    fake_github, app_key, clock, sleeper, self_metrics, token_endpoint
) -> None:
    """A 201 token grant cut in the middle is exchanged again after a backoff; the data call then succeeds."""
    fake_github.on(
        "/app/installations/42/access_tokens",
        fake_github.reply(201, body=b'{"token": "ghs_half', headers=JSON),
        token_endpoint(app_key, clock),
        method="POST",
    )
    fake_github.on(REPOS, fake_github.reply(200, ["ok"]))
    auth, response = await get_repos_as_app(fake_github, app_key, clock, sleeper, self_metrics)

    assert response.data == ["ok"]
    assert auth.exchanges == 2
    assert len(sleeper.calls) == 1
    assert retries(self_metrics, "list_org_repos", "invalid_body") == 1
    assert fake_github.requests_to(REPOS)[0].headers["Authorization"] == "Bearer ghs_1"


def test_etag_cache_is_a_bounded_lru() -> None:
    """The least recently used URL is evicted first once the cache is full."""
    cache = ETagCache(max_entries=2)
    headers = (("ETag", '"x"'),)
    for url in ("a", "b"):
        cache.put(url, CachedResponse(f'"{url}"', url.encode(), headers))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", CachedResponse('"c"', b"c", headers))

    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert len(cache) == 2


def test_etag_cache_entries_leave_the_garbage_collectors_sight() -> None:
    """A process keeps one entry per URL it asks: once collected, they add nothing to scan, and read back whole."""
    cache = ETagCache(max_entries=5_000)
    gc.collect()
    before = len(gc.get_objects())
    for n in range(2_000):
        headers = (("ETag", f'"{n}"'), ("Link", f"<http://x/?page={n}>"))
        cache.put(f"u{n}", CachedResponse(f'"{n}"', str(n).encode(), headers, float(n)))
    # A pass stops tracking a tuple once its items are untracked; the pass may meet an entry before the
    # headers tuple inside it, so the second pass is the one that finds every entry untracked.
    gc.collect()
    gc.collect()

    assert len(gc.get_objects()) - before < 100  # a dataclass per entry was 2,000
    assert cache.get("u1999") == CachedResponse(
        '"1999"', b"1999", (("ETag", '"1999"'), ("Link", "<http://x/?page=1999>")), 1999.0
    )


def test_etag_cache_resize_drops_the_least_recently_used_and_counts_evictions() -> None:
    """Lowering the bound evicts at once, oldest first; every eviction is counted."""
    cache = ETagCache(max_entries=4)
    for url in "abcd":
        cache.put(url, CachedResponse(f'"{url}"', url.encode(), ()))
    cache.get("a")

    cache.resize(2)

    assert (len(cache), cache.evictions, cache.max_entries) == (2, 2, 2)
    assert cache.get("b") is None
    assert cache.get("c") is None
    assert cache.get("a") is not None
    assert cache.get("d") is not None


def conditional_pages(fake_github, paths: list[str]) -> None:
    """Script ``paths`` as unchanging pages: 200 with an ETag, 304 when that ETag is sent back."""

    async def page(request) -> Any:
        tag = f'"{request.url.path}"'
        if request.headers.get("If-None-Match") == tag:
            return answer(304, headers={"ETag": tag})
        return answer(200, [{"path": request.url.path}], headers={"ETag": tag})

    for path in paths:
        fake_github.on(path, page)


async def second_round_of(make_client, fake_github, repositories: int | None) -> list[Any]:
    """The answers to 12 URLs asked twice in turn through a cache of 10 (fitted to ``repositories``)."""
    paths = [f"/repos/acme/r{i}/pulls" for i in range(12)]
    conditional_pages(fake_github, paths)
    client = await make_client(etag_cache_entries=10)
    if repositories is not None:
        client.fit_etag_cache(repositories)
    for _ in range(2):
        answers = [await client.get(path, endpoint="list_pulls") for path in paths]
    return answers


@pytest.mark.parametrize(
    ("repositories", "not_modified", "evictions"),
    [
        pytest.param(None, 0, 14, id="too-small-misses-every-time"),
        pytest.param(0, 0, 14, id="never-below-the-floor"),
        pytest.param(1, 12, 0, id="fitted-to-one-repository"),
    ],
)
async def test_an_etag_cache_answers_a_cycle_with_304s_only_when_it_holds_the_cycle(
    fake_github, make_client, self_metrics, repositories: int | None, not_modified: int, evictions: int
) -> None:
    """Asking 12 URLs in turn through 10 entries evicts each just before its reuse (no 304 at all);
    fitted to one repository (16 entries) the second round is all 304s."""
    answers = await second_round_of(make_client, fake_github, repositories)

    assert sum(a.not_modified for a in answers) == not_modified
    assert self_metrics.value(metrics.GITHUB_ETAG_EVICTIONS, {"org": "acme"}) == evictions


async def test_rate_limit_endpoint_feeds_the_budget_even_when_core_is_spent(
    fake_github, make_client, clock, sleeper
) -> None:
    """GET /rate_limit is not held back by a spent core budget and updates every resource's state."""
    reset = clock.now + 600
    fake_github.on(REPOS, fake_github.reply(200, [], headers=rl(0, reset)))
    body = {
        "resources": {
            "core": {"limit": 5000, "remaining": 0, "used": 5000, "reset": int(reset)},
            "search": {"limit": 30, "remaining": 30, "used": 0, "reset": int(clock.now + 60)},
        }
    }
    fake_github.on("/rate_limit", fake_github.reply(200, body))
    client = await make_client()
    await client.get(REPOS, endpoint="list_org_repos")

    states = await client.fetch_rate_limits()

    assert sleeper.calls == []
    assert states["search"].remaining == 30
    assert client.rate_limit("search") == states["search"]
    assert client.rate_limit("core").remaining == 0


async def test_a_malformed_rate_limit_resource_is_skipped_alone(fake_github, make_client, clock) -> None:
    """Unknown fields are ignored; a resource whose numbers are not numbers is dropped, the others kept."""
    body = {
        "resources": {
            "core": {"limit": 5000, "remaining": 4000, "reset": int(clock.now + 60), "extra": "ignored"},
            "search": {"limit": "thirty", "remaining": 30},
            "graphql": "not an object",
        },
        "rate": {"limit": 5000},
    }
    fake_github.on("/rate_limit", fake_github.reply(200, body))
    client = await make_client()

    states = await client.fetch_rate_limits()

    assert set(states) == {"core"}
    assert (states["core"].remaining, states["core"].used) == (4000, None)


async def test_a_rate_limit_body_of_the_wrong_shape_teaches_nothing(fake_github, make_client) -> None:
    """A /rate_limit answer without a resources object yields no states and no error."""
    fake_github.on("/rate_limit", fake_github.reply(200, ["not", "an", "object"]))
    client = await make_client()
    assert await client.fetch_rate_limits() == {}
