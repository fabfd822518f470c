"""A real Prometheus (Debian's 2.42) scrapes the exporter: negotiation, parsing and counter types hold."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from github_stats_exporter import app
from github_stats_exporter.config import parse_config
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def exporter_port(tmp_path: Path) -> AsyncIterator[int]:
    private, public = generate_key_pair()
    key = tmp_path / "app.pem"
    key.write_text(private)
    spec = WorldSpec(
        seed=5, orgs=(OrgSpec("acme", repos=6, users=3, app_id=11, installation_id=21),), start=time.time()
    )
    async with Simulator(spec) as sim:
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


async def query(http: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    async with http.get(f"{base}/api/v1/query", params={"query": promql}) as resp:
        payload = await resp.json()
    assert payload["status"] == "success", payload
    result: list[dict[str, Any]] = payload["data"]["result"]
    return result


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
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: gse\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    )
    proc = await asyncio.create_subprocess_exec(
        *[
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{prom_port}"
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 40
            up: list[dict[str, Any]] = []
            requests: list[dict[str, Any]] = []
            stages: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                try:
                    up = await query(http, base, 'up{job="gse"}')
                    requests = await query(http, base, "gh_exporter_github_requests_total")
                    stages = await query(http, base, 'gh_copilot_repo_review_minutes{quantile="0.9"}')
                except aiohttp.ClientError:
                    pass
                if up and up[0]["value"][1] == "1" and requests and stages:
                    break
                await asyncio.sleep(0.5)
            assert up, "Prometheus never reported the target"
            assert up[0]["value"][1] == "1", up
            assert any(r["metric"].get("endpoint") == "rate_limit" for r in requests)
            assert stages, "Prometheus did not ingest the review stages"
            assert {s["metric"]["scope"] for s in stages} == {"repository"}
            build = await query(http, base, "gh_exporter_build_info")
            assert build
            assert build[0]["value"][1] == "1"
            async with http.get(f"{base}/api/v1/targets") as resp:
                targets = (await resp.json())["data"]["activeTargets"]
            assert targets[0]["health"] == "up", targets[0].get("lastError")
            async with http.get(
                f"{base}/api/v1/metadata", params={"metric": "gh_exporter_github_requests"}
            ) as resp:
                meta = (await resp.json())["data"]
            # OpenMetrics was negotiated: Prometheus records the family (without _total) as a counter.
            assert meta.get("gh_exporter_github_requests", [{}])[0].get("type") == "counter", meta
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


@contextlib.asynccontextmanager
async def running_prometheus(prometheus: str, tmp_path: Path, config: str) -> AsyncIterator[str]:
    """A real Prometheus on a free loopback port with ``config``; yields its base URL, stops it after."""
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(config)
    proc = await asyncio.create_subprocess_exec(
        *[
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{prom_port}"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


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
    async with running_prometheus(prometheus, tmp_path, config) as base, aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 40
        recorded: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not recorded:
            with contextlib.suppress(aiohttp.ClientError):
                recorded = await query(http, base, "org:gh_activity_commits_24h:sum")
            await asyncio.sleep(0.5)
        assert recorded, "the recording rule never produced a value"
        direct = await query(http, base, "sum by (org) (gh_activity_commits_24h)")
        assert {r["metric"]["org"]: r["value"][1] for r in recorded} == {
            r["metric"]["org"]: r["value"][1] for r in direct
        }
        async with http.get(f"{base}/api/v1/rules") as resp:
            groups = (await resp.json())["data"]["groups"]
        assert all(rule["health"] == "ok" for group in groups for rule in group["rules"]), groups
        assert await query(http, base, "ALERTS") == []
