"""Repository discovery for one org: list, filter by allowlist and archived/disabled state, cache.

`RepoDirectory.repos` asks GitHub for the org's repositories with conditional requests, so an
unchanged listing costs only 304s (free for the rate limit), and keeps the last result in memory for
the life of the process. It decides *which* repos are collected; it never collects anything itself
and never swallows GitHub errors (callers decide what a failed listing means).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from github_stats_exporter.github.activity import RepoItem, list_org_repos
from github_stats_exporter.github.client import GitHubClient

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Repo:
    """A repository selected for collection."""

    org: str
    name: str
    archived: bool
    disabled: bool
    default_branch: str
    pushed_at: float | None
    repo_id: int | None = None


class RepoDirectory:
    """The repositories of one org that pass the allowlist (and the archived/disabled rule).

    ``allowlist`` holds repo names (case-insensitive) or ``"*"`` for every repo; an empty allowlist
    selects nothing. Archived and disabled repos are skipped unless ``include_archived``.
    """

    def __init__(
        self, client: GitHubClient, org: str, *, allowlist: Sequence[str], include_archived: bool
    ) -> None:
        self._client = client
        self._org = org
        self._include_archived = include_archived
        self.set_allowlist(allowlist)
        self._cached: list[Repo] | None = None
        self.skipped_items = 0
        """Malformed repository items dropped by the last fetched listing."""

    @property
    def org(self) -> str:
        return self._org

    @property
    def cached(self) -> list[Repo] | None:
        """The last successful result (None before the first); no request is made."""
        return None if self._cached is None else list(self._cached)

    def set_allowlist(self, allowlist: Sequence[str]) -> None:
        """Replace the allowlist (config reload); the next `repos` call applies it."""
        names = {name.strip().lower() for name in allowlist if name.strip()}
        self._all = "*" in names
        self._names = frozenset(names - {"*"})
        self._cached = None

    async def repos(self) -> list[Repo]:
        """The selected repositories, sorted by name; raises `GitHubError` when the listing fails."""
        # With a result kept, an unchanged listing (every page a 304) is not decoded at all.
        listing = await list_org_repos(self._client, self._org, parse_unchanged=self._cached is None)
        if listing.not_modified and self._cached is not None:
            return list(self._cached)
        # Every repository of the org, collected here or by another shard, shares this org's client.
        self._client.fit_etag_cache(len(listing.items) + listing.skipped)
        self.skipped_items = listing.skipped
        if listing.skipped:
            log.warning("malformed repository items skipped", org=self._org, skipped=listing.skipped)
        if listing.truncated:
            log.warning("repository listing truncated by the page cap", org=self._org)
        selected = sorted(
            (self._repo(item) for item in listing.items if self._wanted(item)), key=lambda r: r.name.lower()
        )
        self._cached = selected
        return list(selected)

    def _wanted(self, item: RepoItem) -> bool:
        if not (self._all or item.name.lower() in self._names):
            return False
        return self._include_archived or not (item.archived or item.disabled)

    def _repo(self, item: RepoItem) -> Repo:
        return Repo(
            org=self._org,
            name=item.name,
            archived=item.archived,
            disabled=item.disabled,
            default_branch=item.default_branch,
            pushed_at=item.pushed_at,
            repo_id=item.repo_id,
        )
