"""The Copilot seat endpoints: an org's billing summary and the paginated seat lists of an org and an enterprise.

Answers from :mod:`copilot_seats`; pagination (``per_page`` default 50, max 100, ``Link`` header) and
ETags/304 come from the shared pipeline. The enterprise listing refuses GitHub App installation tokens,
as GitHub does (fact sheet §8.1: no App or fine-grained tokens there).
"""

from __future__ import annotations

from aiohttp import web

from github_stats_exporter.simulator.api import paginate
from github_stats_exporter.simulator.auth import Principal
from github_stats_exporter.simulator.context import ApiError, Reply, SimContext
from github_stats_exporter.simulator.copilot_data import UnknownScope
from github_stats_exporter.simulator.copilot_seats import SeatRoster
from github_stats_exporter.simulator.faults import FaultRule

SEATS_PER_PAGE = 50
"""GitHub's default ``per_page`` for the seat listings."""
NOT_FOR_INTEGRATIONS = "Resource not accessible by integration"


class CopilotSeats:
    """Handlers for ``/orgs/{org}/copilot/billing``, ``…/billing/seats`` and the enterprise ``…/billing/seats``."""

    def __init__(self, ctx: SimContext, roster: SeatRoster) -> None:
        self.ctx = ctx
        self.roster = roster

    def routes(self) -> list[web.RouteDef]:
        c = self.ctx
        return [
            web.get("/orgs/{scope_id}/copilot/billing", c.endpoint("copilot_billing", self.billing)),
            web.get(
                "/orgs/{scope_id}/copilot/billing/seats", c.endpoint("copilot_billing_seats", self.org_seats)
            ),
            web.get(
                "/enterprises/{scope_id}/copilot/billing/seats",
                c.endpoint("copilot_enterprise_billing_seats", self.enterprise_seats),
            ),
        ]

    def _org(self, request: web.Request, who: Principal) -> str:
        org = request.match_info["scope_id"]
        if not who.can_read_org(org):
            raise ApiError(404, "Not Found")
        try:
            return self.roster.dataset.canonical_scope_id("org", org)
        except UnknownScope as exc:
            raise ApiError(404, "Not Found") from exc

    async def billing(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        org = self._org(request, who)
        return Reply(body=self.roster.billing(org), org=org)

    async def org_seats(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        org = self._org(request, who)
        seats = self.roster.org_seats(org)
        page, headers = paginate(self.ctx, request, seats, default_per_page=SEATS_PER_PAGE)
        return Reply(body={"total_seats": len(seats), "seats": list(page)}, headers=headers, org=org)

    async def enterprise_seats(self, request: web.Request, who: Principal, fault: FaultRule | None) -> Reply:
        slug = request.match_info["scope_id"]
        if not who.can_read_enterprise(slug):
            raise ApiError(404, "Not Found")
        if who.budget_key.startswith("installation:"):
            raise ApiError(403, NOT_FOR_INTEGRATIONS)
        try:
            seats = self.roster.enterprise_seats(slug)
        except UnknownScope as exc:
            raise ApiError(404, "Not Found") from exc
        page, headers = paginate(self.ctx, request, seats, default_per_page=SEATS_PER_PAGE)
        body = {"total_seats": self.roster.enterprise_total(slug), "seats": list(page)}
        return Reply(body=body, headers=headers)
