"""Every dashboard query against a real Prometheus (Debian's 2.42) that scraped the demo: each returns data,
and the headline panels equal the simulator's ground truth."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.support.dashboard_queries import queries, substitute
from tests.support.prometheus_server import PrometheusServer, running_prometheus, wait_until

from github_stats_exporter import app, cli
from github_stats_exporter.dashboards.catalog import DASHBOARDS
from github_stats_exporter.dashboards.grafana import CustomVariable, Dashboard, LabelVariable
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.copilot_repos_truth import repos_truth
from github_stats_exporter.simulator.copilot_seats_truth import seats_truth
from github_stats_exporter.simulator.copilot_teams_truth import teams_truth
from github_stats_exporter.simulator.copilot_truth import copilot_truth
from github_stats_exporter.simulator.server import Simulator, write_app_keys
from github_stats_exporter.simulator.spec import demo_spec

pytestmark = pytest.mark.integration

START = 1_780_000_000.0
"""The simulator's frozen clock: the exporter sees one fixed instant, so the truth is exact."""
RATE_INTERVAL = "30s"
READY_FAMILIES = (
    "gh_copilot_usage_daily_active_users",
    "gh_copilot_team_active_users",
    "gh_copilot_seats",
    "gh_activity_commits_24h",
    "gh_activity_loc_added_weekly",
    "gh_exporter_http_requests_total",
)
"""Families whose presence on the page means every collector of the demo has published."""


@dataclass(frozen=True, slots=True)
class Demo:
    port: int
    sim: Simulator


@pytest.fixture
def prometheus(tool: Callable[..., str]) -> str:
    """The prometheus binary; skipped locally / failed under CI=true when it is missing."""
    return tool("prometheus")


@pytest.fixture
async def demo(prometheus: str, tmp_path: Path) -> AsyncIterator[Demo]:
    """The shipped demo config served over the demo world with a frozen simulator clock."""
    spec = demo_spec(START)
    keys = write_app_keys(spec, tmp_path)
    clock = SimClock(frozen_at=START)
    async with Simulator(spec, clock=clock) as sim:
        for app_id, (_, public) in keys.items():
            sim.add_app(app_id, public)
        settings = cli.demo_settings(sim.api_url, {a: p for a, (p, _) in keys.items()}, 0)
        stop = asyncio.Event()
        bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            app.serve(settings, stop=stop, on_listening=bound.set_result, clock=clock.now)
        )
        try:
            yield Demo(await asyncio.wait_for(bound, 10), sim)
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)


async def wait_for_page(http: aiohttp.ClientSession, port: int) -> None:
    """Until the exporter's page carries every family the dashboards need from the demo's collectors."""
    deadline = time.monotonic() + 60
    body = ""
    while time.monotonic() < deadline:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            body = await resp.text()
        if all(f"\n{name}{{" in body for name in READY_FAMILIES):
            return
        await asyncio.sleep(0.2)
    missing = [name for name in READY_FAMILIES if f"\n{name}{{" not in body]
    pytest.fail(f"the demo never published {missing}")


@pytest.fixture
async def prom(prometheus: str, demo: Demo, tmp_path: Path) -> AsyncIterator[PrometheusServer]:
    """A Prometheus scraping the demo every second, once the demo has published and a few scrapes landed."""
    config = (
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: gse\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{demo.port}']}}]\n"
    )
    async with aiohttp.ClientSession() as http:
        await wait_for_page(http, demo.port)
    async with running_prometheus(prometheus, config, tmp_path) as server:
        scrapes = 0.0

        async def scraped_four_times() -> bool:
            nonlocal scrapes
            result = await server.query('count_over_time(up{job="gse"}[1m])')
            scrapes = float(result[0]["value"][1]) if result else 0.0
            return scrapes >= 4

        await wait_until(scraped_four_times, 60)
        assert scrapes >= 4, "Prometheus did not scrape the demo four times"
        yield server


async def combinations(
    prom: PrometheusServer, dashboard: Dashboard, values: dict[str, str], rest: int = 0
) -> list[dict[str, str]]:
    """Every assignment of the dashboard's variables Grafana can offer, resolved through Prometheus in order.

    A custom variable takes each of its options, a label variable each label value Prometheus lists for
    its selector (which must not be empty); a multi-value variable with "All" takes the All value, as
    Grafana selects it by default.
    """
    if rest == len(dashboard.variables):
        return [dict(values)]
    variable = dashboard.variables[rest]
    if isinstance(variable, CustomVariable):
        choices = list(variable.options)
    else:
        assert isinstance(variable, LabelVariable)
        selector = substitute(variable.selector, values)
        offered = await prom.api(f"/api/v1/label/{variable.label_name}/values", {"match[]": selector})
        if not offered:
            return []
        choices = [".*"] if variable.include_all else sorted(offered)
    out: list[dict[str, str]] = []
    for choice in choices:
        out += await combinations(prom, dashboard, {**values, variable.name: choice}, rest + 1)
    return out


def single_value(result: list[dict[str, Any]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def panel_expr(dashboard: Dashboard, title: str, values: dict[str, str]) -> str:
    panel = next(p for p in dashboard.panels() if p.title == title)
    return substitute(panel.queries[0].expr, values)


def dashboard(slug: str) -> Dashboard:
    return next(d for d in DASHBOARDS if d.slug == slug)


async def test_every_dashboard_query_returns_data_and_headlines_match_the_truth(
    prom: PrometheusServer, demo: Demo
):
    """Each panel query of the four dashboards returns data for some variable values Prometheus offers (fields
    GitHub sends only for some orgs, such as cloud-agent users, have data in some org only); the org's daily
    active users, a team's active users, the seats, a repository's commits and each repository's Copilot pull
    requests equal the simulator's truth."""
    builtin = {"__rate_interval": RATE_INTERVAL}
    empty: list[str] = []
    for board in DASHBOARDS:
        assignments = await combinations(prom, board, builtin)
        assert assignments, f"{board.slug}: a variable has no value"
        for panel, query in queries(board):
            for values in assignments:
                if await prom.query(substitute(query.expr, values)):
                    break
            else:
                empty.append(f"{board.slug} / {panel.title}: {query.expr}")
    assert empty == [], "queries without data for every variable value:\n" + "\n".join(empty)

    adoption, teams, activity = (
        dashboard("copilot-adoption"),
        dashboard("copilot-teams-repositories"),
        dashboard("activity"),
    )
    org = {**builtin, "scope": "org", "org": "acme-corp", "window": "28d"}
    dau = single_value(await prom.query(panel_expr(adoption, "Daily active users", org)))
    seats = single_value(await prom.query(panel_expr(adoption, "Seats", org)))
    team = sorted(
        await prom.api(
            "/api/v1/label/team/values",
            {"match[]": 'gh_copilot_team_active_users{org="acme-corp"}'},
        )
    )[0]
    team_users = single_value(
        await prom.query(panel_expr(teams, "Active users per team", {**org, "team": team, "repo": ".*"}))
    )
    truth = demo.sim.truth(START)
    (_, _, repo, user), most = max(
        (
            (key, value)
            for key, value in truth.items()
            if key[0] == "gh_activity_commits_24h" and key[1] == "acme-corp"
        ),
        key=lambda item: item[1],
    )
    picked = {**builtin, "org": "acme-corp", "repo": repo, "user": user}
    commits = single_value(await prom.query(panel_expr(activity, "Commits (24 h)", picked)))
    repo_table = await prom.query(
        panel_expr(teams, "Copilot and activity per repository", {**org, "repo": ".*"})
    )

    dataset = demo.sim.copilot
    end = dataset.latest_complete_day(datetime.fromtimestamp(START, UTC).date())
    usage = copilot_truth(dataset, "org", "acme-corp", "aggregate", "28d", end)
    assert dau == next(v for (name, _), v in usage.items() if name == "gh_copilot_usage_daily_active_users")
    seat_truth = seats_truth(demo.sim.seats, "org", "acme-corp", START)
    assert (
        seats == seat_truth[("gh_copilot_seats", (("kind", "total"), ("org", "acme-corp"), ("scope", "org")))]
    )
    team_key = (
        "gh_copilot_team_active_users",
        tuple(sorted({"org": "acme-corp", "team": team, "scope": "org", "window": "28d"}.items())),
    )
    assert team_users == teams_truth(dataset, "org", "acme-corp", end)[team_key]
    assert commits == most
    # The table's first column: each repository's pull requests of the 28-day window, as repos-1-day says.
    created = {
        dict(labels)["repo"]: value
        for (name, labels), value in repos_truth(demo.sim.copilot_repos, "org", "acme-corp", end).items()
        if name == "gh_copilot_usage_pull_requests_total_created" and dict(labels)["window"] == "28d"
    }
    assert {r["metric"]["repo"]: float(r["value"][1]) for r in repo_table} == created
