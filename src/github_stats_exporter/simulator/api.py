"""The simulated REST API routes: repos, commits, pulls, reviews, issue comments, contributor stats, tokens.

Handlers read the world at the clock's ``now`` and return :class:`Reply` objects; faults, auth, budgets,
ETags and accounting live in :mod:`context`. Query parameters follow GitHub's documented defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web

from github_stats_exporter.simulator import payloads
from github_stats_exporter.simulator.auth import AuthError, Principal
from github_stats_exporter.simulator.context import ApiError, Reply, SimContext, dump, error_body, post_fault
from github_stats_exporter.simulator.entities import PullView, RepoData
from github_stats_exporter.simulator.faults import FaultRule

T = TypeVar("T")
FIXED_ORDERS = frozenset({"created", "full_name"})
"""Repository listing orders that do not depend on the clock."""


def parse_time(text: str, name: str) -> float:
    """An ISO 8601 query timestamp (``Z`` or offset) as Unix time, or a 422 like GitHub's."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        msg = f"Invalid value for parameter '{name}': {text!r} is not a valid ISO 8601 timestamp"
        raise ApiError(422, msg) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        return default


def paginate(
    ctx: SimContext, request: web.Request, items: Sequence[T], *, default_per_page: int = 30
) -> tuple[Sequence[T], dict[str, str]]:
    """One page of ``items`` and the ``Link`` header (absolute API URLs; omitted when one page holds all)."""
    per_page = min(max(_int(request, "per_page", default_per_page), 1), 100)
    page = max(_int(request, "page", 1), 1)
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page : page * per_page]
    if last == 1:
        return chunk, {}

    def url(n: int) -> str:
        return ctx.api_url + str(request.rel_url.update_query(page=n))

    rels: list[tuple[int, str]] = []
    if page > 1:
        rels += [(min(page - 1, last), "prev"), (1, "first")]
    if page < last:
        rels += [(page + 1, "next"), (last, "last")]
    return chunk, {"Link": ", ".join(f'<{url(n)}>; rel="{rel}"' for n, rel in rels)}


def _direction(request: web.Request, default_desc: bool) -> bool:
    value = request.query.get("direction")
    if value is None:
        return default_desc
    if value not in ("asc", "desc"):
        raise ApiError(422, "Validation Failed", errors=[{"field": "direction", "code": "invalid"}])
    return value == "desc"


class RestApi:
    """Route handlers of the REST API host."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self._stats_seen: dict[tuple[str, str], tuple[str, int]] = {}
        self._orders: dict[tuple[str, str, str, bool], list[RepoData]] = {}
        """(org, type, sort, descending) -> an org's repos in a fixed order (the world never changes)."""

    def routes(self) -> list[web.RouteDef]:
        c = self.ctx
        # aiohttp tries the routes under one prefix in this order: the two a steady cycle asks for
        # every repository (pull requests, issue comments) come first. The patterns are disjoint, so
        # the order decides only how many are tried, never which one matches.
        return [
            web.get(
                "/repos/{owner}/{repo}/pulls", c.endpoint("list_pulls", self.pulls, fingerprint=self._changes)
            ),
            web.get(
                "/repos/{owner}/{repo}/issues/comments",
                c.endpoint("list_issue_comments", self.comments, fingerprint=self._changes),
            ),
            web.get(
                "/repos/{owner}/{repo}/commits",
                c.endpoint("list_commits", self.commits, fingerprint=self._changes),
            ),
            web.get(
                "/repos/{owner}/{repo}/pulls/{number}/reviews",
                c.endpoint("list_reviews", self.reviews, fingerprint=self._changes),
            ),
            web.get("/repos/{owner}/{repo}/commits/{sha}", c.endpoint("get_commit", self.commit)),
            web.get("/repos/{owner}/{repo}/stats/contributors", c.endpoint("contributor_stats", self.stats)),
            web.get(
                "/orgs/{org}/repos", c.endpoint("list_org_repos", self.org_repos, fingerprint=self._pushes)
            ),
            web.get(
                "/installation/repositories", c.endpoint("list_installation_repos", self.installation_repos)
            ),
            web.get("/rate_limit", c.endpoint("rate_limit", self.rate_limit, budget=False)),
            web.post("/app/installations/{installation_id}/access_tokens", self.access_token),
        ]

    # -- auth -----------------------------------------------------------------------------------

    async def access_token(self, request: web.Request) -> web.StreamResponse:
        ctx = self.ctx
        fault = ctx.faults.pick("access_token", request.path_qs)
        response = await ctx.pre_fault(fault, request)
        if response is None:
            try:
                inst = int(request.match_info["installation_id"])
                body = ctx.auth.exchange(inst, request.headers.get("Authorization"))
                # Body faults cut or garble the grant like any other JSON reply; the token is still issued.
                response = web.Response(
                    status=201,
                    body=post_fault(fault, dump(body)),
                    content_type="application/json",
                    charset="utf-8",
                )
            except ValueError:
                response = ctx.json_response(404, error_body(404, "Not Found"))
            except AuthError as exc:
                response = ctx.json_response(exc.status, error_body(exc.status, exc.message))
        ctx.stats.record("access_token", response.status)
        return response

    async def rate_limit(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        state = self.ctx.limiter.peek(who.budget_key, self.ctx.clock.now())
        core = {"limit": state.limit, "remaining": state.remaining, "used": state.used, "reset": state.reset}
        return Reply(
            body={"resources": {"core": core}, "rate": {**core, "resource": "core"}},
            headers=state.headers(),
            etag=False,
        )

    # -- repos ----------------------------------------------------------------------------------

    def _changes(self, request: web.Request, who: Principal) -> int | None:
        """The fingerprint of a repo's listings: how many of its moments have passed (None: not readable)."""
        if request.query.get("sort") == "long-running":
            return None  # the order moves with the clock itself, not only with the repo's moments
        info = self.ctx.world.repo_info(request.match_info["owner"], request.match_info["repo"])
        if info is None or not who.can_read_org(info.org):
            return None
        return self.ctx.world.data(info).changes(self.ctx.clock.now())

    def _pushes(self, request: web.Request, who: Principal) -> tuple[str, int] | None:
        """The fingerprint of a page of an org's repository listing: how many commits its repos have.

        A repo item is a function of the repo and its head commit (its ``pushed_at``). In a fixed order
        (created, full_name) a page always holds the same repos, so only theirs count; ordered by push
        time, every repo of the org does. Commit counts only grow with the clock, so equal sums at two
        instants mean equal counts (None: not readable, or an invalid query the handler answers).
        """
        org_spec = self.ctx.world.org_spec(request.match_info["org"])
        if org_spec is None or not who.can_read_org(org_spec.name):
            return None
        world, now = self.ctx.world, self.ctx.clock.now()
        if request.query.get("sort", "created") not in FIXED_ORDERS:
            return "org", sum(world.data(info).commits_until(now) for info in world.repos(org_spec.name))
        try:
            page, _ = paginate(self.ctx, request, self._repo_list(request, org_spec.name, now, sortable=True))
        except ApiError:
            return None
        return "page", sum(d.commits_until(now) for d in page)

    def _repo(self, who: Principal, owner: str, name: str) -> RepoData:
        info = self.ctx.world.repo_info(owner, name)
        if info is None or not who.can_read_org(info.org):
            raise ApiError(404, "Not Found")
        return self.ctx.world.repo(info.org, info.name)

    def _repo_list(self, request: web.Request, org: str, now: float, *, sortable: bool) -> list[RepoData]:
        """The org's repos in listing order; only the page asked for is rendered (by the caller).

        A fixed order (created, full_name) is computed once per query and kept: callers must not change it.
        """
        world = self.ctx.world
        if not sortable:
            return sorted((world.data(info) for info in world.repos(org)), key=lambda d: d.info.id)
        kind = request.query.get("type", "all")
        sort = request.query.get("sort", "created")
        keys: dict[str, Callable[[RepoData], Any]] = {
            "created": lambda d: (d.info.created_at, d.info.id),
            "updated": lambda d: (d.pushed_at(now), d.info.id),
            "pushed": lambda d: (d.pushed_at(now), d.info.id),
            "full_name": lambda d: (d.info.full_name.lower(), d.info.id),
        }
        if sort not in keys:
            raise ApiError(422, "Validation Failed", errors=[{"field": "sort", "code": "invalid"}])
        desc = _direction(request, sort != "full_name")
        kept = self._orders.get((org, kind, sort, desc))
        if kept is not None:
            return kept
        datas = [world.data(info) for info in world.repos(org)]
        if kind == "public":
            datas = [d for d in datas if not d.info.private]
        elif kind == "private":
            datas = [d for d in datas if d.info.private]
        elif kind == "forks":
            datas = []
        datas.sort(key=keys[sort], reverse=desc)
        if sort in FIXED_ORDERS:
            self._orders[org, kind, sort, desc] = datas
        return datas

    def _render_repos(self, page: Sequence[RepoData], now: float) -> list[dict[str, Any]]:
        return [payloads.repo(d.info, d, now, self.ctx.api_url) for d in page]

    async def org_repos(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        org_spec = self.ctx.world.org_spec(request.match_info["org"])
        if org_spec is None or not who.can_read_org(org_spec.name):
            raise ApiError(404, "Not Found")
        now = self.ctx.clock.now()
        page, link = paginate(self.ctx, request, self._repo_list(request, org_spec.name, now, sortable=True))
        return Reply(body=self._render_repos(page, now), headers=link, org=org_spec.name)

    async def installation_repos(
        self, request: web.Request, who: Principal, fault: FaultRule | None
    ) -> Reply:
        orgs = [o for o in self.ctx.world.org_names if who.can_read_org(o)]
        if who.budget_key.startswith("token:") or not orgs:
            raise ApiError(403, "This endpoint can only be accessed with an installation access token")
        now = self.ctx.clock.now()
        repos = [r for org in orgs for r in self._repo_list(request, org, now, sortable=False)]
        page, link = paginate(self.ctx, request, repos)
        body = {"total_count": len(repos), "repositories": self._render_repos(page, now)}
        return Reply(body=body, headers=link, org=orgs[0])

    # -- commits --------------------------------------------------------------------------------

    async def commits(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        data = self._repo(who, request.match_info["owner"], request.match_info["repo"])
        now = self.ctx.clock.now()
        if data.info.kind == "empty":
            raise ApiError(409, "Git Repository is empty.")
        visible = data.visible_commits(now)
        sha = request.query.get("sha")
        if sha and sha != data.info.default_branch:
            found = data.commit(sha, now)
            if found is None:
                raise ApiError(404, f"No commit found for SHA: {sha}")
            index = data.commit_index(found.sha)
            assert index is not None  # noqa: S101 - data.commit found it
            visible = visible[: index + 1]
        since = parse_time(request.query["since"], "since") if "since" in request.query else None
        until = parse_time(request.query["until"], "until") if "until" in request.query else None
        selected = [
            c
            for c in reversed(visible)
            if (since is None or c.committed_at >= since) and (until is None or c.committed_at <= until)
        ]
        page, link = paginate(self.ctx, request, selected)
        api = self.ctx.api_url
        return Reply(body=[payloads.commit(c, data.info, api) for c in page], headers=link, org=data.info.org)

    async def commit(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        data = self._repo(who, request.match_info["owner"], request.match_info["repo"])
        now = self.ctx.clock.now()
        if data.info.kind == "empty":
            raise ApiError(409, "Git Repository is empty.")
        ref = request.match_info["sha"]
        found = data.head(now) if ref == data.info.default_branch else data.commit(ref, now)
        if found is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        return Reply(body=payloads.commit(found, data.info, self.ctx.api_url, detail=True), org=data.info.org)

    # -- pulls, reviews, comments ---------------------------------------------------------------

    async def pulls(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        data = self._repo(who, request.match_info["owner"], request.match_info["repo"])
        now = self.ctx.clock.now()
        state = request.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise ApiError(422, "Validation Failed", errors=[{"field": "state", "code": "invalid"}])
        views = [v for v in data.visible_pulls(now) if state in ("all", v.state)]
        sort = request.query.get("sort", "created")
        comments: dict[int, int] = {}
        if sort == "popularity":
            for cm in data.visible_comments(now):
                comments[cm.number] = comments.get(cm.number, 0) + 1
        keys: dict[str, Callable[[PullView], Any]] = {
            "created": lambda v: (v.pr.created_at, v.pr.number),
            "updated": lambda v: (v.updated_at, v.pr.number),
            "popularity": lambda v: (comments.get(v.pr.number, 0), v.pr.number),
            "long-running": lambda v: (
                (v.closed_at if v.closed_at is not None else now) - v.pr.created_at,
                v.pr.number,
            ),
        }
        if sort not in keys:
            raise ApiError(422, "Validation Failed", errors=[{"field": "sort", "code": "invalid"}])
        views.sort(key=keys[sort], reverse=_direction(request, sort == "created"))
        page, link = paginate(self.ctx, request, views)
        return Reply(
            body=[payloads.pull(v, data.info, self.ctx.api_url) for v in page],
            headers=link,
            org=data.info.org,
        )

    async def reviews(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        data = self._repo(who, request.match_info["owner"], request.match_info["repo"])
        now = self.ctx.clock.now()
        try:
            number = int(request.match_info["number"])
        except ValueError as exc:
            raise ApiError(404, "Not Found") from exc
        pr = data.pulls.get(number)
        if pr is None or pr.created_at > now:
            raise ApiError(404, "Not Found")
        page, link = paginate(self.ctx, request, data.visible_reviews(number, now))
        return Reply(
            body=[payloads.review(r, data.info, self.ctx.api_url) for r in page],
            headers=link,
            org=data.info.org,
        )

    async def comments(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        data = self._repo(who, request.match_info["owner"], request.match_info["repo"])
        now = self.ctx.clock.now()
        selected = data.visible_comments(now)
        if "since" in request.query:
            since = parse_time(request.query["since"], "since")
            selected = [c for c in selected if c.updated_at(now) >= since]
        sort = request.query.get("sort")
        if sort is not None:
            if sort not in ("created", "updated"):
                raise ApiError(422, "Validation Failed", errors=[{"field": "sort", "code": "invalid"}])
            # GitHub does not document the default direction here; ascending matches the default id order.
            desc = _direction(request, False)
            if sort == "created":
                selected = sorted(selected, key=lambda c: (c.created_at, c.id), reverse=desc)
            else:
                selected = sorted(selected, key=lambda c: (c.updated_at(now), c.id), reverse=desc)
        page, link = paginate(self.ctx, request, selected)
        api = self.ctx.api_url
        return Reply(
            body=[payloads.issue_comment(c, data.info, now, api) for c in page],
            headers=link,
            org=data.info.org,
        )

    # -- statistics -----------------------------------------------------------------------------

    async def stats(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        data = self._repo(who, request.match_info["owner"], request.match_info["repo"])
        now = self.ctx.clock.now()
        head = data.head(now)
        if head is None:
            return Reply(204, None, org=data.info.org)
        key = (data.info.org, data.info.name)
        seen_sha, calls = self._stats_seen.get(key, ("", 0))
        calls = calls + 1 if seen_sha == head.sha else 1
        self._stats_seen[key] = (head.sha, calls)
        warmup = self.ctx.warmup_overrides.get(key, self.ctx.stats_warmup_requests)
        if calls <= warmup:
            # Still "computing": GitHub answers 202 with an empty object and no ETag.
            return Reply(202, {}, org=data.info.org, etag=False)
        return Reply(body=payloads.contributor_stats(data, now, self.ctx.api_url), org=data.info.org)
