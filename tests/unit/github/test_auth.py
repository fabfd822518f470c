# mypy: allow-untyped-defs, allow-incomplete-defs
"""App JWT minting, installation-token exchange and caching, and fixed-token auth."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import jwt
import pytest

from github_stats_exporter.github.auth import AppAuth, TokenAuth, mint_app_jwt
from github_stats_exporter.github.errors import AuthError

TOKEN_PATH = "/app/installations/42/access_tokens"


@pytest.fixture
def fake_github(served_github):
    """The token exchange is tested over a real socket: AppAuth's default is the aiohttp transport."""
    return served_github


def make_auth(fake, key, clock, session: aiohttp.ClientSession, prefix: str = "") -> AppAuth:
    return AppAuth(
        123,
        42,
        key.private_pem,
        api_base_url=fake.url(prefix),
        session=session,
        clock=clock,
        user_agent="github-stats-exporter/test",
        api_version="2022-11-28",
    )


def test_jwt_claims_follow_github_rules(app_key) -> None:
    """The JWT is RS256, iss is the app id, iat is backdated 60 s and it lives at most 10 minutes."""
    now = time.time()
    token = mint_app_jwt(123, app_key.private_pem, now)

    claims = jwt.decode(token, app_key.public_key, algorithms=["RS256"])

    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims["iss"] == "123"
    assert claims["iat"] == int(now) - 60
    assert claims["exp"] - claims["iat"] <= 600
    assert claims["exp"] - now <= 600


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param("not a key", id="garbage"),
        pytest.param("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", id="broken-pem"),
    ],
)
def test_unreadable_private_key_is_a_clear_error_without_key_material(pem: str) -> None:
    """A bad key fails fast with a message that does not echo the key."""
    with pytest.raises(ValueError, match="private key") as caught:
        mint_app_jwt(1, pem, time.time())
    assert "AAAA" not in str(caught.value)


async def test_app_auth_exchanges_jwt_and_caches_the_token(
    fake_github, app_key, clock, token_endpoint
) -> None:
    """The first call exchanges a verified JWT with the API headers; later calls reuse the token."""
    fake_github.on(TOKEN_PATH, token_endpoint(app_key, clock), method="POST")
    async with aiohttp.ClientSession() as session:
        auth = make_auth(fake_github, app_key, clock, session)
        first = await auth.authorization()
        second = await auth.authorization()

    assert first == second == "Bearer ghs_1"
    [exchange] = fake_github.requests_to(TOKEN_PATH)
    assert exchange.method == "POST"
    assert exchange.headers["Accept"] == "application/vnd.github+json"
    assert exchange.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert exchange.headers["User-Agent"] == "github-stats-exporter/test"


async def test_token_is_refreshed_before_it_expires(fake_github, app_key, clock, token_endpoint) -> None:
    """A token valid for an hour is reused until 5 minutes before expiry, then exchanged again."""
    fake_github.on(TOKEN_PATH, token_endpoint(app_key, clock), method="POST")
    async with aiohttp.ClientSession() as session:
        auth = make_auth(fake_github, app_key, clock, session)
        start = clock.now
        assert await auth.authorization() == "Bearer ghs_1"
        clock.now = start + 3600 - 301
        assert await auth.authorization() == "Bearer ghs_1"
        clock.now = start + 3600 - 299
        assert await auth.authorization() == "Bearer ghs_2"

    assert auth.exchanges == 2


async def test_concurrent_callers_share_one_exchange(fake_github, app_key, clock, token_endpoint) -> None:
    """Twenty callers of an empty cache wait for a single token exchange."""
    fake_github.on(TOKEN_PATH, token_endpoint(app_key, clock, delay=0.05), method="POST")
    async with aiohttp.ClientSession() as session:
        auth = make_auth(fake_github, app_key, clock, session)
        values = await asyncio.gather(*(auth.authorization() for _ in range(20)))

    assert set(values) == {"Bearer ghs_1"}
    assert len(fake_github.requests_to(TOKEN_PATH)) == 1


async def test_ghes_base_url_keeps_its_path_prefix_for_the_exchange(
    fake_github, app_key, clock, token_endpoint
) -> None:
    """On GHES the exchange goes to <host>/api/v3/app/installations/{id}/access_tokens, not github.com."""
    fake_github.on("/api/v3" + TOKEN_PATH, token_endpoint(app_key, clock), method="POST")
    async with aiohttp.ClientSession() as session:
        auth = make_auth(fake_github, app_key, clock, session, prefix="/api/v3")
        assert await auth.authorization() == "Bearer ghs_1"

    assert [seen.path for seen in fake_github.seen] == ["/api/v3" + TOKEN_PATH]


async def test_invalidate_forces_a_new_exchange(fake_github, app_key, clock, token_endpoint) -> None:
    """After invalidate() (a 401 seen by the client) the next call exchanges a new token."""
    fake_github.on(TOKEN_PATH, token_endpoint(app_key, clock), method="POST")
    async with aiohttp.ClientSession() as session:
        auth = make_auth(fake_github, app_key, clock, session)
        await auth.authorization()
        auth.invalidate()
        assert await auth.authorization() == "Bearer ghs_2"


async def test_rejected_exchange_raises_auth_error_with_status(fake_github, app_key, clock) -> None:
    """A 404 (wrong installation id) is a permanent AuthError carrying the status and GitHub's message."""
    fake_github.on(TOKEN_PATH, fake_github.reply(404, {"message": "Not Found"}), method="POST")
    async with aiohttp.ClientSession() as session:
        auth = make_auth(fake_github, app_key, clock, session)
        with pytest.raises(AuthError) as caught:
            await auth.authorization()

    assert caught.value.status == 404
    assert not caught.value.transient
    assert "Not Found" in str(caught.value)


async def test_unreachable_exchange_is_a_transient_auth_error(app_key, clock) -> None:
    """No answer at all (connection refused) gives AuthError with status None, marked transient."""
    async with aiohttp.ClientSession() as session:
        auth = AppAuth(
            123,
            42,
            app_key.private_pem,
            api_base_url="http://127.0.0.1:9",
            session=session,
            clock=clock,
            user_agent="ua",
            api_version="2022-11-28",
        )
        with pytest.raises(AuthError) as caught:
            await auth.authorization()

    assert caught.value.status is None
    assert caught.value.transient


async def test_malformed_token_response_is_an_auth_error(fake_github, app_key, clock) -> None:
    """A 201 without token/expires_at is refused rather than cached, and asking again would not help."""
    fake_github.on(TOKEN_PATH, fake_github.reply(201, {"token": "ghs_x"}), method="POST")
    async with aiohttp.ClientSession() as session:
        auth = make_auth(fake_github, app_key, clock, session)
        with pytest.raises(AuthError, match="expires_at") as caught:
            await auth.authorization()

    assert not caught.value.invalid_body
    assert not caught.value.transient


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"token": "ghs_x", "expires_at": "2030-', id="cut-in-the-middle"),
        pytest.param(b"<html>oops</html>", id="not-json"),
    ],
)
async def test_undecodable_token_response_is_a_transient_auth_error(
    fake_github, app_key, clock, body
) -> None:
    """A 201 whose body is not JSON at all (cut or garbled on the way) is transient, and no token is kept."""
    fake_github.on(TOKEN_PATH, fake_github.reply(201, body=body), method="POST")
    async with aiohttp.ClientSession() as session:
        auth = make_auth(fake_github, app_key, clock, session)
        with pytest.raises(AuthError, match="not valid JSON") as caught:
            await auth.authorization()

    assert caught.value.status == 201
    assert caught.value.invalid_body
    assert caught.value.transient
    assert auth.valid_until == 0.0


async def test_token_auth_sends_bearer_and_hides_the_token() -> None:
    """A fixed token becomes a Bearer header and never appears in repr."""
    auth = TokenAuth("ghp_secret123")

    assert await auth.authorization() == "Bearer ghp_secret123"
    assert "ghp_secret123" not in repr(auth)
    with pytest.raises(ValueError, match="empty"):
        TokenAuth("  ")
