# mypy: allow-untyped-defs, allow-incomplete-defs
"""The repository listing over the real client: every page asked, unchanged pages decoded only when needed."""

from __future__ import annotations

from typing import Any

from github_stats_exporter.github.activity import list_org_repos
from github_stats_exporter.scrape.repos import RepoDirectory

REPOS = "/orgs/acme/repos"


def repo(name: str, pushed: str = "2026-05-28T20:00:00Z") -> dict[str, Any]:
    return {"name": name, "id": sum(map(ord, name)), "owner": {"login": "acme"}, "pushed_at": pushed}


def script(fake_github, *pages: tuple[int, list[dict[str, Any]] | None]) -> None:
    """One listing per call: each page a (status, items) pair, pages linked by ``rel="next"``."""
    handlers = []
    for n, (status, items) in enumerate(pages, start=1):
        headers = {"ETag": f'"p{n}-{len(items or [])}"'}
        if n < len(pages):
            headers["Link"] = f'<{fake_github.url(REPOS)}?per_page=100&type=all&page={n + 1}>; rel="next"'
        handlers.append(fake_github.reply(status, items, headers=headers))
    fake_github.routes.setdefault(("GET", REPOS), []).extend(handlers)


async def test_a_later_page_that_changed_still_gets_every_repository(fake_github, make_client) -> None:
    """When only page 2 changed, the listing holds every repository: page 1 comes from the cached body."""
    client = await make_client()
    script(fake_github, (200, [repo("a"), repo("b")]), (200, [repo("c")]))
    script(fake_github, (304, None), (200, [repo("c", "2026-05-29T08:00:00Z")]))
    first = await list_org_repos(client, "acme", parse_unchanged=False)
    second = await list_org_repos(client, "acme", parse_unchanged=False)
    assert [r.name for r in first.items] == ["a", "b", "c"]
    pushed = first.items[0].pushed_at
    assert pushed is not None
    assert [(r.name, r.pushed_at) for r in second.items] == [
        ("a", pushed),
        ("b", pushed),
        ("c", pushed + 12 * 3600),
    ]
    assert (second.not_modified, second.requests) == (False, 2)


async def test_an_unchanged_listing_is_not_decoded_and_the_directory_keeps_its_result(
    fake_github, make_client
) -> None:
    """Every page a 304: no items come back (not modified), and the directory answers with its kept list."""
    client = await make_client()
    script(fake_github, (200, [repo("a"), repo("b")]), (200, [repo("c")]))
    script(fake_github, (304, None), (304, None))
    script(fake_github, (304, None), (304, None))
    directory = RepoDirectory(client, "acme", allowlist=["*"], include_archived=False)
    kept = await directory.repos()
    unchanged = await list_org_repos(client, "acme", parse_unchanged=False)
    assert (unchanged.items, unchanged.not_modified, unchanged.requests) == ((), True, 2)
    assert await directory.repos() == kept
    assert [r.name for r in kept] == ["a", "b", "c"]
    assert len(fake_github.requests_to(REPOS)) == 6
