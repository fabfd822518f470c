"""HTTP basic auth against the bcrypt hashes of the web config, and the gate that decides which paths need it.

bcrypt is slow on purpose (tens of milliseconds per check), so checks run in a worker thread, at
most a few at a time, and successful checks are remembered in a bounded cache keyed by a SHA-256
digest of user, hash and password (never the password itself). Failures are not cached: a wrong
password always costs a full bcrypt check, and an unknown user costs the same as a known one.

This module never reads files, never logs credentials and knows nothing about aiohttp (the
middleware in `server.py` asks `AccessGate.admits`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping

import bcrypt

CHALLENGE = "Basic"
"""The ``WWW-Authenticate`` value of a 401, as the exporter-toolkit sends it."""

CACHE_SIZE = 1024
"""Successful checks remembered; the oldest is forgotten first."""

MAX_CONCURRENT_CHECKS = 2
"""bcrypt checks running at once; more requests wait, so bad passwords cannot take every core."""

PROBE_PATHS = frozenset({"/livez", "/readyz"})
"""What ``server.probes_without_auth`` opens. /healthz stays closed: its body carries error details."""

# A bcrypt hash (cost 10, like the toolkit's) of a password nobody sends: an unknown user is checked
# against it so the answer takes as long as for a known user with a wrong password.
_DUMMY_HASH = b"$2b$10$SbnLTNe1kczSKBNn.J.aZ.lO3ekjqQo3XMv9j1lBVGwwVAgdiTGLS"

Checker = Callable[[bytes, bytes], bool]


def _bcrypt_check(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:
        # bcrypt refuses passwords longer than 72 bytes; such a password matches no hash.
        return False


def parse_basic(header: str | None) -> tuple[bytes, bytes] | None:
    """User and password from an ``Authorization: Basic ...`` header, or None when it is not one."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    return (user, password) if sep else None


class BasicAuth:
    """Checks basic-auth credentials against username → bcrypt hash; no users means no auth."""

    def __init__(
        self,
        users: Mapping[str, bytes],
        *,
        check: Checker = _bcrypt_check,
        cache_size: int = CACHE_SIZE,
        max_concurrent: int = MAX_CONCURRENT_CHECKS,
    ) -> None:
        self._users = dict(users)
        self._check = check
        self._cache: OrderedDict[bytes, None] = OrderedDict()
        self._cache_size = cache_size
        self._slots = asyncio.Semaphore(max_concurrent)

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    async def admits(self, header: str | None) -> bool:
        """True when auth is off or the header carries a known user with the right password."""
        if not self._users:
            return True
        credentials = parse_basic(header)
        if credentials is None:
            return False
        user, password = credentials
        try:
            hashed = self._users.get(user.decode("utf-8"))
        except UnicodeDecodeError:
            hashed = None
        target = hashed if hashed is not None else _DUMMY_HASH
        key = hashlib.sha256(len(user).to_bytes(4, "big") + user + target + password).digest()
        if key in self._cache:
            self._cache.move_to_end(key)
            return True
        async with self._slots:
            matches = await asyncio.to_thread(self._check, password, target)
        if not matches or hashed is None:
            return False
        self._cache[key] = None
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return True


class AccessGate:
    """The current `BasicAuth` (replaced when the web config is reloaded) and the paths left open."""

    def __init__(self, auth: BasicAuth, *, open_paths: frozenset[str] = frozenset()) -> None:
        self._auth = auth
        self._open_paths = open_paths

    def use(self, auth: BasicAuth) -> None:
        """Check every later request against ``auth``; requests already admitted are not affected."""
        self._auth = auth

    async def admits(self, path: str, header: str | None) -> bool:
        if path in self._open_paths:
            return True
        return await self._auth.admits(header)
