"""Who is calling the simulated API: App JWT verification, installation tokens, personal tokens.

Checks credentials against the simulator's clock and returns a :class:`Principal`; it must not know
about routes or rate limits beyond naming the budget a principal draws from.
"""

from __future__ import annotations

import functools
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.world import World

INSTALLATION_TOKEN_TTL = 3600.0
_ALPHABET = string.ascii_letters + string.digits


class AuthError(Exception):
    """A request GitHub would refuse; ``status`` and ``message`` become the response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: what it may read and which budget it draws from."""

    token: str
    orgs: frozenset[str]
    """Lower-cased org logins this caller can read."""
    enterprise: str | None
    expires_at: float | None
    budget_key: str
    subject: str
    """How rate-limit messages name the caller, e.g. ``installation ID 2001``."""

    def can_read_org(self, org: str) -> bool:
        return org.lower() in self.orgs

    def can_read_enterprise(self, slug: str) -> bool:
        return self.enterprise is not None and self.enterprise.lower() == slug.lower()


def iso(t: float) -> str:
    """GitHub's timestamp form: UTC, whole seconds, ``Z`` suffix."""
    return _iso_second(int(t))


@functools.lru_cache(maxsize=65536)
def _iso_second(second: int) -> str:
    # Listing pages render the same repositories' timestamps again and again.
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Authenticator:
    """Registry of App public keys and issued tokens, with GitHub's JWT rules enforced on the sim clock."""

    def __init__(self, world: World, clock: SimClock) -> None:
        self._world = world
        self._clock = clock
        self._app_keys: dict[int, str] = {}
        self._tokens: dict[str, Principal] = {}

    def add_app(self, app_id: int, public_key_pem: str) -> None:
        self._app_keys[app_id] = public_key_pem

    def add_token(
        self, token: str, orgs: tuple[str, ...] | list[str], *, enterprise: str | None = None
    ) -> Principal:
        """A personal-access-style token that never expires and reads the given orgs."""
        principal = Principal(
            token=token,
            orgs=frozenset(o.lower() for o in orgs),
            enterprise=enterprise,
            expires_at=None,
            budget_key=f"token:{token}",
            subject=f"user ID {1000 + len(self._tokens)}",
        )
        self._tokens[token] = principal
        return principal

    def resolve(self, authorization: str | None) -> Principal:
        """The caller behind an ``Authorization`` header, or :class:`AuthError` 401."""
        if not authorization:
            raise AuthError(401, "Requires authentication")
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() not in ("bearer", "token") or not value:
            raise AuthError(401, "Bad credentials")
        principal = self._tokens.get(value.strip())
        if principal is None:
            raise AuthError(401, "Bad credentials")
        if principal.expires_at is not None and self._clock.now() >= principal.expires_at:
            raise AuthError(401, "Bad credentials")
        return principal

    def exchange(self, installation_id: int, authorization: str | None) -> dict[str, Any]:
        """``POST /app/installations/{id}/access_tokens``: verify the App JWT, mint a 1-hour token."""
        claims = self._verify_jwt(authorization)
        inst = self._world.installations.get(installation_id)
        if inst is None or str(claims.get("iss")) != str(inst.app_id):
            raise AuthError(404, "Not Found")
        now = self._clock.now()
        token = "ghs_" + "".join(secrets.choice(_ALPHABET) for _ in range(36))
        self._tokens[token] = Principal(
            token=token,
            orgs=frozenset({inst.org.lower()}) if inst.org else frozenset(),
            enterprise=inst.enterprise,
            expires_at=now + INSTALLATION_TOKEN_TTL,
            budget_key=f"installation:{installation_id}",
            subject=f"installation ID {installation_id}",
        )
        permissions = (
            {"enterprise_copilot_metrics": "read"}
            if inst.enterprise
            else {
                "contents": "read",
                "metadata": "read",
                "pull_requests": "read",
                "issues": "read",
                "organization_copilot_metrics": "read",
            }
        )
        return {
            "token": token,
            "expires_at": iso(now + INSTALLATION_TOKEN_TTL),
            "permissions": permissions,
            "repository_selection": "all",
        }

    def _verify_jwt(self, authorization: str | None) -> dict[str, Any]:
        if not authorization:
            raise AuthError(401, "A JSON web token could not be decoded")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError(401, "A JSON web token could not be decoded")
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            key = self._app_keys.get(int(unverified.get("iss", "")))
            if key is None:
                raise AuthError(401, "A JSON web token could not be decoded")
            # Time claims are checked below against the simulated clock, not the wall clock.
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(401, "A JSON web token could not be decoded") from exc
        now = self._clock.now()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int | float) or iat > now + 60:
            raise AuthError(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
            )
        if not isinstance(exp, int | float) or exp <= now:
            raise AuthError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
                "the assertion expires",
            )
        if exp - iat > 600:
            raise AuthError(401, "'Expiration time' claim ('exp') is too far in the future")
        return claims
