"""Route templates of the GitHub REST paths the exporter calls, for trace attributes.

`route_template(path)` turns a concrete path (``/repos/acme/api/stats/contributors``) into the route
it belongs to (``/repos/{owner}/{repo}/stats/contributors``), so traces group requests by endpoint and
never carry org or repository names, query strings or anything else from the URL. A path matching no
known route becomes ``"other"``. It must not see or return full URLs or query strings.
"""

from __future__ import annotations

ROUTES: tuple[str, ...] = (
    "/meta",
    "/rate_limit",
    "/installation/repositories",
    "/app/installations/{installation_id}/access_tokens",
    "/orgs/{org}/repos",
    "/repos/{owner}/{repo}/commits",
    "/repos/{owner}/{repo}/commits/{ref}",
    "/repos/{owner}/{repo}/pulls",
    "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
    "/repos/{owner}/{repo}/issues/comments",
    "/repos/{owner}/{repo}/stats/contributors",
    "/orgs/{org}/copilot/billing",
    "/orgs/{org}/copilot/billing/seats",
    "/enterprises/{enterprise}/copilot/billing/seats",
    "/orgs/{org}/copilot/metrics/reports/{report}",
    "/orgs/{org}/copilot/metrics/reports/{report}/latest",
    "/enterprises/{enterprise}/copilot/metrics/reports/{report}",
    "/enterprises/{enterprise}/copilot/metrics/reports/{report}/latest",
)
"""Every route the exporter requests; ``{name}`` stands for exactly one path segment."""

OTHER = "other"

_BY_LENGTH: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
for _route in ROUTES:
    _segments = tuple(_route.strip("/").split("/"))
    _BY_LENGTH.setdefault(len(_segments), []).append((_route, _segments))


def _matches(pattern: tuple[str, ...], segments: list[str]) -> bool:
    return all(p.startswith("{") or p == s for p, s in zip(pattern, segments, strict=True))


def route_template(path: str, *, prefix: str = "") -> str:
    """The route of ``path`` (no query string) below the API's path ``prefix`` (GHES: ``/api/v3``)."""
    prefix = prefix.rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    segments = path.strip("/").split("/")
    for route, pattern in _BY_LENGTH.get(len(segments), ()):
        if _matches(pattern, segments):
            return route
    return OTHER
