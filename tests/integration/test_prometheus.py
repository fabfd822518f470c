"""A real Prometheus (Debian's 2.42) scrapes the exporter: negotiation, parsing and counter types hold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.support.prometheus_server import PrometheusServer, Series, running_prometheus, wait_until

from github_stats_exporter import app
from github_stats_exporter.config import parse_config
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules.yaml"


def world(seed: int, start: float) -> WorldSpec:
    return WorldSpec(
        seed=seed, orgs=(OrgSpec("acme", repos=6, users=3, app_id=11, installation_id=21),), start=start
    )


def seed_with_review_stages(start: float) -> int:
    """A world seed whose newest repositories report, as of ``start``, has review stages.

    The newest day follows the calendar, and the simulator answers 204 for one day in nine (as GitHub
    sometimes does) and has days without a timed review: a fixed seed failed this test on such dates.
    """
    today = datetime.fromtimestamp(start, UTC).date()
    for seed in range(5, 105):
        sim = Simulator(world(seed, start))
        rows = sim.copilot_repos.rows("org", "acme", sim.copilot.latest_complete_day(today)) or []
        if any(row["pull_request_review_times"] for row in rows):
            return seed
    pytest.fail(f"no seed in 5..104 gives review stages on the newest day as of {today}")


@pytest.fixture
async def exporter_port(tmp_path: Path) -> AsyncIterator[int]:
    private, public = generate_key_pair()
    key = tmp_path / "app.pem"
    key.write_text(private)
    start = time.time()
    async with Simulator(world(seed_with_review_stages(start), start)) as sim:
        sim.add_app(11, public)
        settings = parse_config(
            {
                "server": {"listen_addr": "127.0.0.1:0", "log_level": "warning"},
                "github": {
                    "api_base_url": sim.api_url,
                    "orgs": [
                        {"org": "acme", "app_id": 11, "installation_id": 21, "private_key_path": str(key)}
                    ],
                },
                "health": {"github_probe_interval": "1s"},
                # Repository review stages are gauges with a `quantile` label: Prometheus must take them.
                "copilot": {"enabled": True, "include_org_28d": False, "include_repositories": True},
            }
        )
        stop = asyncio.Event()
        bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(app.serve(settings, stop=stop, on_listening=bound.set_result))
        port = await asyncio.wait_for(bound, 10)
        yield port
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
def prometheus(tool: Callable[..., str]) -> str:
    """The prometheus binary; skipped locally / failed under CI=true when it is missing."""
    return tool("prometheus")


# `prometheus` comes first so a missing binary is reported before the exporter starts.
async def test_prometheus_scrapes_openmetrics_and_sees_counters(
    prometheus: str, exporter_port: int, tmp_path: Path
):
    """Prometheus scrapes /metrics (up=1), ingests the self-metrics and keeps counter types intact; the
    repository review stages (a gauge with a `quantile` label) are ingested too."""
    config = (
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: gse\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    )
    async with running_prometheus(prometheus, config, tmp_path) as prom:
        up: list[Series] = []
        requests: list[Series] = []
        stages: list[Series] = []

        async def scraped() -> bool:
            nonlocal up, requests, stages
            up = await prom.query('up{job="gse"}')
            requests = await prom.query("gh_exporter_github_requests_total")
            stages = await prom.query('gh_copilot_repo_review_minutes{quantile="0.9"}')
            return bool(up and up[0]["value"][1] == "1" and requests and stages)

        await wait_until(scraped, 40)
        assert up, "Prometheus never reported the target"
        assert up[0]["value"][1] == "1", up
        assert any(r["metric"].get("endpoint") == "rate_limit" for r in requests)
        assert stages, "Prometheus did not ingest the review stages"
        assert {s["metric"]["scope"] for s in stages} == {"repository"}
        build = await prom.query("gh_exporter_build_info")
        assert build
        assert build[0]["value"][1] == "1"
        targets = await prom.targets()
        assert targets[0]["health"] == "up", targets[0].get("lastError")
        meta = await prom.api("/api/v1/metadata", {"metric": "gh_exporter_github_requests"})
        # OpenMetrics was negotiated: Prometheus records the family (without _total) as a counter.
        assert meta.get("gh_exporter_github_requests", [{}])[0].get("type") == "counter", meta


async def rule_evaluations(prom: PrometheusServer) -> dict[str, str]:
    """When each rule group was last evaluated, as Prometheus words it."""
    groups = (await prom.api("/api/v1/rules"))["groups"]
    return {group["name"]: group["lastEvaluation"] for group in groups}


async def test_the_shipped_rules_record_and_stay_silent_on_a_healthy_exporter(
    prometheus: str, exporter_port: int, tmp_path: Path
):
    """deploy/prometheus/rules.yaml loads in a real Prometheus: recording rules match the page, no alert is pending."""
    config = (
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        "  - job_name: github-stats-exporter\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    )
    async with running_prometheus(prometheus, config, tmp_path) as prom:
        recorded: list[Series] = []

        async def recording() -> bool:
            nonlocal recorded
            recorded = await prom.query("org:gh_activity_commits_24h:sum")
            return bool(recorded)

        await wait_until(recording, 40)
        assert recorded, "the recording rule never produced a value"
        # Alerts are judged on an evaluation that saw the scrape: before it, `absent(up…)` is pending.
        scraped_by = await rule_evaluations(prom)

        async def evaluated_again() -> bool:
            now = await rule_evaluations(prom)
            return all(now[name] != stamp for name, stamp in scraped_by.items())

        await wait_until(evaluated_again, 10)
        direct = await prom.query("sum by (org) (gh_activity_commits_24h)")
        assert {r["metric"]["org"]: r["value"][1] for r in recorded} == {
            r["metric"]["org"]: r["value"][1] for r in direct
        }
        groups = (await prom.api("/api/v1/rules"))["groups"]
        assert all(rule["health"] == "ok" for group in groups for rule in group["rules"]), groups
        assert await prom.query("ALERTS") == []
