"""Credentials for the GitHub API: a fixed token, or a GitHub App installation token.

`AppAuth` mints an RS256 JWT, exchanges it for an installation token at the configured API base
(github.com or a GHES ``/api/v3`` prefix) and caches it until shortly before it expires. Nothing
here logs or formats a token, a JWT or the private key, and nothing here decides where a header is
sent: the client only attaches it to requests for the configured API host.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import aiohttp
import jwt
import msgspec
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from yarl import URL

from github_stats_exporter.github.errors import AuthError, TransportError
from github_stats_exporter.github.payload import ErrorBody, decode
from github_stats_exporter.github.transport import AiohttpTransport, Request, Transport

JWT_BACKDATE_SECONDS = 60
"""``iat`` is set this far in the past to tolerate clock drift between us and GitHub."""
JWT_LIFETIME_SECONDS = 540
"""``exp`` is this far after now: GitHub refuses JWTs that expire more than 10 minutes ahead."""


class Auth(Protocol):
    """Supplies the ``Authorization`` header value for API requests."""

    async def authorization(self) -> str:
        """The full header value, e.g. ``"Bearer ghs_..."``; may refresh a token first."""
        ...

    def invalidate(self) -> None:
        """Forget any cached credential (called after a 401) so the next call refreshes."""
        ...


class TokenAuth:
    """A fixed token (PAT, or a token minted elsewhere). Nothing to refresh."""

    refreshable = False
    """A 401 cannot be cured by asking again, so the client does not retry it."""

    def __init__(self, token: str) -> None:
        if not token.strip():
            msg = "GitHub token is empty"
            raise ValueError(msg)
        self._header = f"Bearer {token.strip()}"

    async def authorization(self) -> str:
        return self._header

    def invalidate(self) -> None:
        """A fixed token cannot be refreshed; nothing to forget."""

    def __repr__(self) -> str:
        return "TokenAuth(<redacted>)"


def load_rsa_private_key(private_key_pem: str) -> RSAPrivateKey:
    """Parse an App private key, with an error that never echoes the key material."""
    try:
        key = load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        msg = "GitHub App private key is not a readable unencrypted PEM private key"
        raise ValueError(msg) from exc
    if not isinstance(key, RSAPrivateKey):
        msg = "GitHub App private key must be an RSA key (GitHub signs App JWTs with RS256)"
        raise ValueError(msg)
    return key


def mint_app_jwt(app_id: int | str, private_key_pem: str | RSAPrivateKey, now: float) -> str:
    """An App JWT: RS256, ``iss`` = app id, ``iat`` = now-60 s, ``exp`` = now+540 s (< 10 min ahead)."""
    key = load_rsa_private_key(private_key_pem) if isinstance(private_key_pem, str) else private_key_pem
    issued = int(now)
    claims = {
        "iat": issued - JWT_BACKDATE_SECONDS,
        "exp": issued + JWT_LIFETIME_SECONDS,
        "iss": str(app_id),
    }
    return jwt.encode(claims, key, algorithm="RS256")


class _TokenGrant(msgspec.Struct):
    token: str
    expires_at: str


class AppAuth:
    """GitHub App installation token, exchanged on demand and cached until ``expires_at - refresh_margin``.

    One lock guards the exchange, so concurrent callers of an expired token wait for one exchange
    instead of each minting their own. The exchange goes through ``transport`` when given, else
    through ``session`` (one of the two is required). It is not retried here: the client retries a
    transient `AuthError` with the same attempts and backoff as the request that needed the token.
    """

    refreshable = True

    def __init__(
        self,
        app_id: int,
        installation_id: int,
        private_key_pem: str,
        *,
        api_base_url: str,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = 300.0,
        user_agent: str,
        api_version: str,
        request_timeout: float = 20.0,
    ) -> None:
        self._app_id = app_id
        self._installation_id = installation_id
        self._key = load_rsa_private_key(private_key_pem)
        base = URL(api_base_url)
        if base.scheme not in ("http", "https") or not base.host:
            msg = f"api_base_url must be an absolute http(s) URL, got {api_base_url!r}"
            raise ValueError(msg)
        # Keep the GHES path prefix (/api/v3): the exchange goes to the configured host, never github.com.
        self._token_url = base.with_path(
            f"{base.path.rstrip('/')}/app/installations/{installation_id}/access_tokens"
        )
        if transport is None:
            if session is None:
                msg = "AppAuth needs a session or a transport"
                raise ValueError(msg)
            transport = AiohttpTransport(session)
        self._transport = transport
        self._clock = clock
        self._refresh_margin = refresh_margin
        self._headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": api_version,
            "User-Agent": user_agent,
        }
        self._timeout = request_timeout
        self._lock = asyncio.Lock()
        self._header: str | None = None
        self._valid_until = 0.0
        self._exchanges = 0

    @property
    def exchanges(self) -> int:
        """How many token exchanges this object made (for tests and diagnostics)."""
        return self._exchanges

    @property
    def valid_until(self) -> float:
        """Unix time after which the cached token is refreshed (0 when none is cached)."""
        return self._valid_until if self._header else 0.0

    async def authorization(self) -> str:
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._lock:
            # Another caller may have refreshed while we waited for the lock.
            cached = self._fresh()
            if cached is not None:
                return cached
            token, expires_at = await self._exchange()
            now = self._clock()
            # Never let a large margin make a fresh token count as stale (that would loop on exchanges).
            margin = min(self._refresh_margin, max(0.0, (expires_at - now) / 2))
            self._header = f"Bearer {token}"
            self._valid_until = expires_at - margin
            return self._header

    def invalidate(self) -> None:
        self._header = None
        self._valid_until = 0.0

    def _fresh(self) -> str | None:
        if self._header is not None and self._clock() < self._valid_until:
            return self._header
        return None

    async def _exchange(self) -> tuple[str, float]:
        app_jwt = mint_app_jwt(self._app_id, self._key, self._clock())
        headers = {**self._headers, "Authorization": f"Bearer {app_jwt}"}
        self._exchanges += 1
        try:
            answer = await self._transport.send(Request("POST", self._token_url, headers, self._timeout))
        except TransportError as exc:
            raise AuthError(None, _cause_name(exc)) from exc
        status, body = answer.status, answer.body
        if status != 201:
            raise AuthError(status, _error_message(body))
        try:
            grant = msgspec.json.decode(body, type=_TokenGrant)
        except msgspec.ValidationError as exc:
            raise AuthError(status, "token response lacks a valid token/expires_at") from exc
        except msgspec.DecodeError as exc:
            # Not JSON at all (cut short, garbled on the way): asking again usually cures it.
            msg = f"token response is not valid JSON ({len(body)} bytes)"
            raise AuthError(status, msg, invalid_body=True) from exc
        try:
            expires_at = datetime.fromisoformat(grant.expires_at).timestamp()
        except ValueError as exc:
            raise AuthError(status, "token response lacks a valid token/expires_at") from exc
        return grant.token, expires_at

    def __repr__(self) -> str:
        return f"AppAuth(app_id={self._app_id}, installation_id={self._installation_id})"


def _cause_name(exc: TransportError) -> str:
    """The name of the library exception behind a transport failure (the message never holds a URL)."""
    cause = exc.__cause__
    return type(cause).__name__ if cause is not None else exc.reason


def _error_message(body: bytes) -> str:
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return "non-JSON error body"
    error = decode(decoded, ErrorBody)
    return error.message[:200] if error is not None else "error body without a message"
