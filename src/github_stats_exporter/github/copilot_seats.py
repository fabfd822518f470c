"""Copilot seats at the edge: an org's billing summary and the paginated seat list of an org or the enterprise.

Requests are conditional (ETags), so an unchanged page costs no rate-limit budget; each answer says
whether it came from a 304. This module knows paths and pagination; it does not count seats or decide
labels (that is `scrape/seat_census.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from github_stats_exporter.github.client import GitHubClient

SeatScope = Literal["org", "enterprise"]

BILLING_ENDPOINT = "copilot_billing"
SEATS_ENDPOINT = "copilot_billing_seats"
"""The `endpoint` labels of these requests in the request self-metrics."""
SEATS_PER_PAGE = 100
"""GitHub's maximum ``per_page`` for the seat listings: fewest requests."""


@dataclass(frozen=True, slots=True)
class SeatPages:
    """Every page body of one seat listing, and whether all of them were answered with 304."""

    bodies: tuple[Any, ...]
    not_modified: bool
    truncated: bool


@dataclass(frozen=True, slots=True)
class BillingSummary:
    """The ``GET /orgs/{org}/copilot/billing`` body and whether it was answered with 304."""

    body: Any
    not_modified: bool


def seats_path(scope: SeatScope, scope_id: str) -> str:
    base = "orgs" if scope == "org" else "enterprises"
    return f"/{base}/{quote(scope_id, safe='')}/copilot/billing/seats"


class CopilotSeatsApi:
    """Typed calls of the seat endpoints through one authenticated client."""

    def __init__(self, client: GitHubClient) -> None:
        self._client = client

    async def billing(self, org: str) -> BillingSummary:
        """``GET /orgs/{org}/copilot/billing`` (there is no enterprise variant)."""
        response = await self._client.get(
            f"/orgs/{quote(org, safe='')}/copilot/billing", endpoint=BILLING_ENDPOINT
        )
        return BillingSummary(response.data, response.not_modified)

    async def seats(self, scope: SeatScope, scope_id: str) -> SeatPages:
        """Every page of ``…/copilot/billing/seats``; ``truncated`` when `github.max_pages` cut the listing."""
        bodies: list[Any] = []
        not_modified = True
        truncated = False
        async for page in self._client.paginate(
            seats_path(scope, scope_id), endpoint=SEATS_ENDPOINT, params={"per_page": SEATS_PER_PAGE}
        ):
            bodies.append(page.data)
            not_modified = not_modified and page.not_modified
            truncated = truncated or page.truncated
        return SeatPages(tuple(bodies), not_modified, truncated)
