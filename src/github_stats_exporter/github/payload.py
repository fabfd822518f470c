"""Reading GitHub JSON at the edge: one item into a msgspec Struct, a timestamp, a user's login.

The endpoint modules (`activity`, `stats`) describe each item they read as a private msgspec Struct
and decode it with `decode`. The tolerance rules every one of them follows:

* unknown fields are ignored (GitHub adds fields without notice);
* a required field that is missing, null or of the wrong type makes the item malformed: `decode`
  returns None and the caller drops and counts it, nothing is raised; types are checked strictly, so
  ``"5"`` is not a number and ``true`` is not an integer;
* an optional field is typed ``object`` and read by the small readers here, so that a null or a
  value of an unexpected type there becomes the field's empty value without costing the item.

This module knows no endpoint, makes no request and decides nothing about attribution.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import msgspec

T = TypeVar("T")


def decode(raw: object, kind: type[T]) -> T | None:
    """``raw`` (decoded JSON) as ``kind``, or None when it does not fit; unknown fields are ignored."""
    try:
        return msgspec.convert(raw, type=kind)
    except msgspec.ValidationError:
        return None


def parse_time(value: object) -> float | None:
    """An ISO 8601 timestamp (``2024-01-01T00:00:00Z``) as Unix time; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def text(value: object) -> str:
    """An optional string field: the string itself, or "" for null, absent or another type."""
    return value if isinstance(value, str) else ""


class ErrorBody(msgspec.Struct):
    """An error answer's body: GitHub's ``message`` is the only field read."""

    message: str


class _Account(msgspec.Struct):
    """A user object (``author``, ``user``, ``owner``): only its login is read."""

    login: str


def login_of(user: object) -> str | None:
    """The login of a user object; None for a null user (a deleted account, an unlinked commit) or a malformed one."""
    if user is None:
        return None  # the common case (deleted accounts, unlinked commits): answered without a failed decode
    account = decode(user, _Account)
    return account.login if account is not None and account.login else None
