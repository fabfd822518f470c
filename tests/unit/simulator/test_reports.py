"""Tests for the Copilot report-link endpoints and the signed download host."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.downloads import split_rows
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import WorldSpec

ORG_REPORTS = "/orgs/acme/copilot/metrics/reports"
ENT_REPORTS = "/enterprises/ent/copilot/metrics/reports"


def today(clock: SimClock) -> datetime:
    return datetime.fromtimestamp(clock.now(), UTC)


async def download(api: Any, url: str, **headers: str) -> tuple[int, bytes, str]:
    async with api.http.get(url, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


async def fetch_rows(api: Any, links: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for link in links:
        status, body, content_type = await download(api, link)
        assert status == 200
        assert content_type.startswith("application/x-ndjson")
        rows += [json.loads(line) for line in body.splitlines() if line]
    return rows


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"{ORG_REPORTS}/organization-1-day", id="org-aggregate"),
        pytest.param(f"{ORG_REPORTS}/users-1-day", id="org-users"),
        pytest.param(f"{ENT_REPORTS}/enterprise-1-day", id="enterprise-aggregate"),
        pytest.param(f"{ENT_REPORTS}/users-1-day", id="enterprise-users"),
    ],
)
async def test_one_day_reports_need_a_day_and_skip_days_without_data(
    sim: Simulator, api: Any, clock: SimClock, path: str
) -> None:
    """No day → 400 validation error; yesterday (not processed yet) → 204; two days ago → links and report_day."""
    status, body, _ = await api.get(path)
    assert status == 400
    assert "day" in body["message"]
    yesterday = (today(clock) - timedelta(days=1)).date().isoformat()
    assert (await api.get(f"{path}?day={yesterday}"))[:2] == (204, None)
    day = (today(clock) - timedelta(days=2)).date().isoformat()
    status, body, _ = await api.get(f"{path}?day={day}")
    assert status == 200
    assert body["report_day"] == day
    assert all(link.startswith(sim.download_url + "/copilot-reports/") for link in body["download_links"])


@pytest.mark.parametrize(
    ("path", "scope", "scope_id", "report"),
    [
        pytest.param(f"{ORG_REPORTS}/users-28-day/latest", "org", "acme", "users", id="org-users"),
        pytest.param(
            f"{ORG_REPORTS}/organization-28-day/latest", "org", "acme", "aggregate", id="org-aggregate"
        ),
        pytest.param(
            f"{ENT_REPORTS}/users-28-day/latest", "enterprise", "ent", "users", id="enterprise-users"
        ),
        pytest.param(
            f"{ENT_REPORTS}/enterprise-28-day/latest", "enterprise", "ent", "aggregate", id="ent-aggregate"
        ),
    ],
)
async def test_28_day_reports_serve_every_row_of_the_dataset(
    sim: Simulator, api: Any, clock: SimClock, path: str, scope: Any, scope_id: str, report: Any
) -> None:
    """The latest 28-day report spans 28 days ending two days ago, and its files hold exactly the dataset's rows."""
    status, body, _ = await api.get(path)
    assert status == 200
    end = (today(clock) - timedelta(days=2)).date()
    assert body["report_end_day"] == end.isoformat()
    assert body["report_start_day"] == (end - timedelta(days=27)).isoformat()
    rows = sim.copilot.report_rows(scope, scope_id, report, "28d", end)
    assert await fetch_rows(api, body["download_links"]) == rows
    if len(rows) > 5:
        assert len(body["download_links"]) >= 2


def test_rows_are_split_over_one_to_three_files() -> None:
    """Up to 5 rows fit one file; more rows use at least two files, never more than three, losing none."""
    for n in (0, 1, 5, 6, 200, 201, 5000):
        lines = [f'{{"n":{i}}}\n'.encode() for i in range(n)]
        parts = split_rows(lines)
        assert (len(parts) == 1) if n <= 5 else (2 <= len(parts) <= 3)
        assert b"".join(parts) == b"".join(lines)


async def test_download_rejects_authorization_header(sim: Simulator, api: Any) -> None:
    """The signed-URL host refuses any request that carries Authorization, as the real blob host does."""
    _, body, _ = await api.get(f"{ORG_REPORTS}/users-28-day/latest")
    status, text, _ = await download(api, body["download_links"][0], Authorization="token ghp_simtest")
    assert status == 400
    assert b"Only one auth mechanism allowed" in text
    assert sim.stats.downloads == 0


async def test_download_link_expires_on_the_sim_clock(sim: Simulator, api: Any, clock: SimClock) -> None:
    """Links are valid for an hour: afterwards the host answers 403 "Signature not valid in the specified time frame"."""
    _, body, _ = await api.get(f"{ORG_REPORTS}/users-28-day/latest")
    link = body["download_links"][0]
    query = parse_qs(urlsplit(link).query)
    issued = datetime.fromisoformat(query["st"][0].replace("Z", "+00:00"))
    expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
    assert expiry - issued == timedelta(hours=1)
    assert (await download(api, link))[0] == 200
    clock.advance(3601)
    status, text, _ = await download(api, link)
    assert status == 403
    assert b"Signature not valid in the specified time frame" in text


async def test_tampered_signature_is_refused(sim: Simulator, api: Any) -> None:
    """Changing any signed part of the URL (here the expiry) invalidates the signature."""
    _, body, _ = await api.get(f"{ORG_REPORTS}/users-28-day/latest")
    link = body["download_links"][0].replace("se=", "se=2099")
    status, text, _ = await download(api, link)
    assert status == 403
    assert b"AuthenticationFailed" in text


async def test_link_ttl_is_configurable(
    clock: SimClock, make_spec: Callable[[], WorldSpec], api_for: Callable[[Simulator], Any]
) -> None:
    """Simulator(link_ttl=60) issues links that expire after a minute."""
    async with Simulator(make_spec(), clock=clock, link_ttl=60) as sim:
        sim.add_token("pat", ["acme"])
        api = api_for(sim)
        api.token = "pat"
        _, body, _ = await api.get(f"{ORG_REPORTS}/users-28-day/latest")
        clock.advance(61)
        assert (await download(api, body["download_links"][0]))[0] == 403


async def test_downloads_are_counted_apart_and_cost_no_budget(sim: Simulator, api: Any) -> None:
    """Downloads show up in stats.downloads and the request counter, not in the rate-limited count."""
    _, body, _ = await api.get(f"{ORG_REPORTS}/users-28-day/latest")
    await fetch_rows(api, body["download_links"])
    n = len(body["download_links"])
    assert sim.stats.downloads == n
    assert sim.stats.requests["copilot_report_download", 200] == n
    assert sim.stats.rate_limited() == 1


@pytest.mark.parametrize(
    "kind", [pytest.param("truncate", id="truncate"), pytest.param("malformed", id="malformed")]
)
async def test_download_faults_damage_the_ndjson(sim: Simulator, api: Any, kind: Any) -> None:
    """Truncated files end mid-line; malformed files contain lines that are not JSON."""
    _, body, _ = await api.get(f"{ORG_REPORTS}/users-28-day/latest")
    sim.faults.add(FaultRule("copilot_report_download", kind, times=1))
    status, raw, _ = await download(api, body["download_links"][0])
    assert status == 200
    bad = 0
    for line in raw.splitlines():
        try:
            json.loads(line)
        except json.JSONDecodeError:
            bad += 1
    assert bad >= 1
    if kind == "truncate":
        assert not raw.endswith(b"\n")


async def test_expired_link_fault_issues_links_that_are_already_expired(sim: Simulator, api: Any) -> None:
    """With the expired_link fault on the link endpoint, every returned link is refused as expired."""
    sim.faults.add(FaultRule("copilot_report_link", "expired_link", times=1))
    _, body, _ = await api.get(f"{ORG_REPORTS}/users-28-day/latest")
    for link in body["download_links"]:
        status, text, _ = await download(api, link)
        assert status == 403
        assert b"time frame" in text


async def test_org_token_cannot_read_other_org_reports(sim: Simulator, api: Any) -> None:
    """Report endpoints of an org outside the token's reach, or unknown report names, are 404."""
    assert (await api.get("/orgs/globex/copilot/metrics/reports/users-28-day/latest"))[0] == 404
    assert (await api.get(f"{ORG_REPORTS}/teams-28-day/latest"))[0] == 404


@pytest.mark.parametrize(
    ("path", "scope", "scope_id"),
    [
        pytest.param(f"{ORG_REPORTS}/repos-1-day", "org", "acme", id="org"),
        pytest.param(f"{ENT_REPORTS}/repos-1-day", "enterprise", "ent", id="enterprise"),
    ],
)
async def test_repos_reports_serve_the_activity_rows_and_204_on_days_without(
    sim: Simulator, api: Any, clock: SimClock, path: str, scope: Any, scope_id: str
) -> None:
    """Over a window, days with rows serve exactly them (busy repositories only, review stages inside the
    PR totals, an unknown field), the other days answer 204; there is no 28-day variant."""
    assert (await api.get(f"{path}/latest"))[0] == 404
    end = (today(clock) - timedelta(days=2)).date()
    statuses = set()
    orgs: set[str] = set()
    for offset in range(28):
        day = end - timedelta(days=offset)
        expected = sim.copilot_repos.rows(scope, scope_id, day)
        status, body, _ = await api.get(f"{path}?day={day.isoformat()}")
        statuses.add(status)
        if expected is None:
            assert (status, body) == (204, None)
            continue
        assert status == 200
        rows = await fetch_rows(api, body["download_links"])
        assert rows == expected
        for row in rows:
            assert row["day"] == day.isoformat()
            assert "copilot_autofix" in row  # a field readers must ignore
            assert ("organization_id" in row) == (scope == "org")
            for element in row["pull_request_review_times"]:
                assert element["total_merged"] <= row["pull_requests"]["total_merged"]
            orgs.add(row["repo_owner_name"])
    assert statuses == {200, 204}
    assert orgs == ({"acme"} if scope == "org" else {"acme", "globex"})
