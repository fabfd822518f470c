"""Typed calls of the GitHub endpoints the activity collector needs, parsed once at the edge.

Repos, commits, pulls, reviews and issue comments come back as frozen dataclasses holding only the
fields the exporter uses. Missing or null fields are tolerated (they become None / ""); an item whose
required fields are unusable is counted in ``skipped`` and dropped, never raised. This module knows
endpoints and payload shapes, not attribution rules, windows or storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.errors import NotFound

T = TypeVar("T")

PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """Parsed items of one (possibly multi-page) listing.

    ``skipped`` counts malformed items that were dropped; ``not_modified`` is True when every page
    was answered 304 (free); ``truncated`` when the page cap stopped the walk early; ``requests`` is
    how many pages were asked for (304s included).
    """

    items: tuple[T, ...]
    skipped: int = 0
    not_modified: bool = False
    truncated: bool = False
    requests: int = 0


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


def _str(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value if isinstance(value, str) else ""


def _login(value: object) -> tuple[str | None, str]:
    """(login, account type) of a user object; login None for a null/malformed user."""
    if not isinstance(value, dict):
        return None, ""
    login = value.get("login")
    kind = value.get("type")
    return (login if isinstance(login, str) and login else None), (kind if isinstance(kind, str) else "")


# --- repositories -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepoItem:
    """One repository of a listing."""

    owner: str
    name: str
    archived: bool
    disabled: bool
    default_branch: str
    pushed_at: float | None


def parse_repo(raw: object) -> RepoItem | None:
    if not isinstance(raw, dict):
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        return None
    owner = raw.get("owner")
    owner_login = _str(owner, "login") if isinstance(owner, dict) else ""
    if not owner_login:
        full = _str(raw, "full_name")
        owner_login = full.split("/", 1)[0] if "/" in full else ""
    return RepoItem(
        owner=owner_login,
        name=name,
        archived=raw.get("archived") is True,
        disabled=raw.get("disabled") is True,
        default_branch=_str(raw, "default_branch"),
        pushed_at=parse_time(raw.get("pushed_at")),
    )


async def _collect_repos(
    client: GitHubClient, path: str, endpoint: str, *, wrapped: bool
) -> Listing[RepoItem]:
    items: list[RepoItem] = []
    skipped = 0
    requests = 0
    all_cached = True
    truncated = False
    async for page in client.paginate(path, endpoint=endpoint, params={"per_page": PER_PAGE, "type": "all"}):
        requests += 1
        all_cached = all_cached and page.not_modified
        truncated = truncated or page.truncated
        data = page.data.get("repositories") if wrapped and isinstance(page.data, dict) else page.data
        if not isinstance(data, list):
            skipped += 1
            continue
        for raw in data:
            parsed = parse_repo(raw)
            if parsed is None:
                skipped += 1
            else:
                items.append(parsed)
    return Listing(tuple(items), skipped, all_cached and requests > 0, truncated, requests)


async def list_org_repos(client: GitHubClient, org: str) -> Listing[RepoItem]:
    """Every repository of ``org``; falls back to ``/installation/repositories`` on 404.

    The fallback serves App installations on a user account (no ``/orgs/{org}``); its items are
    filtered to the owner ``org`` (case-insensitive). Pages are conditional: unchanged pages are 304s.
    """
    try:
        return await _collect_repos(
            client, f"/orgs/{quote(org, safe='')}/repos", "list_org_repos", wrapped=False
        )
    except NotFound:
        listing = await _collect_repos(
            client, "/installation/repositories", "list_installation_repos", wrapped=True
        )
        wanted = org.lower()
        own = tuple(r for r in listing.items if r.owner.lower() == wanted)
        return Listing(own, listing.skipped, listing.not_modified, listing.truncated, listing.requests)
