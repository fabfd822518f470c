"""The Copilot report-link endpoints (org and enterprise: aggregate and users, 1-day and 28-day; user-teams and
repos 1-day).

They answer with signed links to NDJSON files published on the download host; the rows come from
:mod:`copilot_data` (membership rows from :mod:`copilot_teams`, repository rows from :mod:`copilot_repos`).
They never return the rows themselves.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from aiohttp import web

from github_stats_exporter.simulator.auth import Principal
from github_stats_exporter.simulator.context import ApiError, Reply, SimContext
from github_stats_exporter.simulator.copilot_data import CopilotDataset, UnknownScope
from github_stats_exporter.simulator.copilot_repos import RepoActivity
from github_stats_exporter.simulator.copilot_teams import TeamDirectory
from github_stats_exporter.simulator.downloads import ReportHost, split_rows
from github_stats_exporter.simulator.faults import FaultRule

ReportKind = tuple[Literal["aggregate", "users", "teams", "repos"], Literal["1d", "28d"]]
_ORG_REPORTS: dict[str, ReportKind] = {
    "organization-1-day": ("aggregate", "1d"),
    "organization-28-day": ("aggregate", "28d"),
    "users-1-day": ("users", "1d"),
    "users-28-day": ("users", "28d"),
    "user-teams-1-day": ("teams", "1d"),
    "repos-1-day": ("repos", "1d"),
}
_ENTERPRISE_REPORTS: dict[str, ReportKind] = {
    "enterprise-1-day": ("aggregate", "1d"),
    "enterprise-28-day": ("aggregate", "28d"),
    "users-1-day": ("users", "1d"),
    "users-28-day": ("users", "28d"),
    "user-teams-1-day": ("teams", "1d"),
    "repos-1-day": ("repos", "1d"),
}
WINDOW_DAYS = 28


class CopilotReports:
    """Handlers for the report-link endpoints."""

    def __init__(
        self, ctx: SimContext, host: ReportHost, dataset: CopilotDataset, repos: RepoActivity | None = None
    ) -> None:
        self.ctx = ctx
        self.host = host
        self.dataset = dataset
        self.teams = TeamDirectory(dataset)
        self.repos = repos if repos is not None else RepoActivity(dataset, {})

    def routes(self) -> list[web.RouteDef]:
        handler = self.ctx.endpoint("copilot_report_link", self.link)
        base_org = "/orgs/{scope_id}/copilot/metrics/reports/{report}"
        base_ent = "/enterprises/{scope_id}/copilot/metrics/reports/{report}"
        return [
            web.get(base_org, handler),
            web.get(base_org + "/latest", handler),
            web.get(base_ent, handler),
            web.get(base_ent + "/latest", handler),
        ]

    async def link(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        scope: Literal["org", "enterprise"] = "org" if request.path.startswith("/orgs/") else "enterprise"
        scope_id = request.match_info["scope_id"]
        allowed = who.can_read_org(scope_id) if scope == "org" else who.can_read_enterprise(scope_id)
        table = _ORG_REPORTS if scope == "org" else _ENTERPRISE_REPORTS
        name = request.match_info["report"]
        kind = table.get(name)
        latest = request.path.endswith("/latest")
        if not allowed or kind is None or latest != (kind[1] == "28d"):
            raise ApiError(404, "Not Found")
        try:
            canonical = self.dataset.canonical_scope_id(scope, scope_id)
        except UnknownScope as exc:
            raise ApiError(404, "Not Found") from exc
        org = canonical if scope == "org" else ""
        report, window = kind
        today = datetime.fromtimestamp(self.ctx.clock.now(), UTC).date()
        day = _day_param(request) if window == "1d" else self.dataset.latest_complete_day(today)
        if not self.dataset.available(day, today):
            return Reply(204, None, org=org)
        if report == "teams":
            rows = self.teams.rows(scope, canonical, day)
        elif report == "repos":
            repo_rows = self.repos.rows(scope, canonical, day)
            if repo_rows is None:
                return Reply(204, None, org=org)  # nothing that day (or GitHub just has none)
            rows = repo_rows
        else:
            rows = self.dataset.report_rows(scope, canonical, report, window, day)
        lines = [json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows]
        expired = fault is not None and fault.kind == "expired_link"
        links = self.host.publish(split_rows(lines), expired=expired)
        if window == "1d":
            body: dict[str, object] = {"download_links": links, "report_day": day.isoformat()}
        else:
            start = day - timedelta(days=WINDOW_DAYS - 1)
            body = {
                "download_links": links,
                "report_start_day": start.isoformat(),
                "report_end_day": day.isoformat(),
            }
        return Reply(body=body, org=org)


def _day_param(request: web.Request) -> date:
    text = request.query.get("day")
    if text is None:
        raise ApiError(
            400,
            "Invalid request.\n\nMissing required query parameter: day",
            errors=[{"resource": "CopilotMetrics", "field": "day", "code": "missing_field"}],
        )
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ApiError(
            400,
            f"Invalid request.\n\nInvalid value for query parameter day: {text!r} is not a date",
            errors=[{"resource": "CopilotMetrics", "field": "day", "code": "invalid"}],
        ) from exc
