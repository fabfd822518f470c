"""The whole service against the simulator: CLI exit codes, `once`, `serve` lifecycle and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from tests.support.once_truth import assert_once_exports_the_truth, truth_world

from github_stats_exporter import app, cli, metrics
from github_stats_exporter.config import Settings, parse_config
from github_stats_exporter.exposition import Format
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.copilot_repos_truth import repos_truth
from github_stats_exporter.simulator.copilot_seats_truth import seats_truth
from github_stats_exporter.simulator.copilot_teams_truth import teams_truth
from github_stats_exporter.simulator.copilot_truth import copilot_truth
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator, write_app_keys
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec, demo_spec

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def small_spec() -> WorldSpec:
    return WorldSpec(
        seed=3,
        orgs=(
            OrgSpec("acme", repos=7, users=4, app_id=11, installation_id=21),
            OrgSpec("globex", repos=6, users=3, app_id=11, installation_id=22),
        ),
        start=time.time(),
    )


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_key_pair()


@pytest.fixture
async def sim(keys: tuple[str, str]) -> AsyncIterator[Simulator]:
    async with Simulator(small_spec()) as simulator:
        simulator.add_app(11, keys[1])
        yield simulator


def config_dict(sim: Simulator, key_path: Path, port: int = 0) -> dict[str, object]:
    return {
        "server": {"listen_addr": f"127.0.0.1:{port}", "log_level": "warning"},
        "github": {
            "api_base_url": sim.api_url,
            "orgs": [
                {"org": "acme", "app_id": 11, "installation_id": 21, "private_key_path": str(key_path)},
                {"org": "globex", "app_id": 11, "installation_id": 22, "private_key_path": str(key_path)},
            ],
        },
        "retry": {"max_attempts": 2, "initial_backoff": "10ms", "max_backoff": "20ms"},
        "health": {"github_probe_interval": "1h"},
    }


@pytest.fixture
def key_path(tmp_path: Path, keys: tuple[str, str]) -> Path:
    path = tmp_path / "app.pem"
    path.write_text(keys[0])
    return path


def settings_for(sim: Simulator, key_path: Path, port: int = 0) -> Settings:
    return parse_config(config_dict(sim, key_path, port))


def test_check_config_reports_every_problem_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """check-config lists each problem with its field path and exits 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "github": {"orgs": [{"org": "a", "token_env": "NOPE_NOT_SET", "scrape_interval": "5x"}]},
                "store": {"backend": "cassandra"},
                "colour": "blue",
            }
        )
    )
    assert cli.main(["check-config", "--config", str(bad)]) == cli.EXIT_BAD_CONFIG
    err = capsys.readouterr().err
    assert "github.orgs[0].scrape_interval" in err
    assert "store.backend" in err
    assert "colour" in err


def test_check_config_accepts_the_go_sample_without_secrets(capsys: pytest.CaptureFixture[str]):
    """The Go exporter's sample config validates (shape only, its key files do not exist here)."""
    sample = ROOT / "tests" / "fixtures" / "go_local.yaml"
    assert cli.main(["check-config", "--no-secrets", "--config", str(sample)]) == cli.EXIT_OK
    assert "valid" in capsys.readouterr().out


def test_check_config_accepts_the_shipped_sample(capsys: pytest.CaptureFixture[str]):
    """config/local.yaml is a valid config in shape."""
    assert cli.main(["check-config", "--no-secrets", "--config", str(ROOT / "config/local.yaml")]) == 0


async def test_once_prints_a_valid_page_and_succeeds(sim: Simulator, key_path: Path):
    """`once` runs every source once and returns a page the strict OpenMetrics parser accepts."""
    result = await app.once(settings_for(sim, key_path), fmt=Format.OPENMETRICS)
    assert result.ok, result.failures
    parsed = text_string_to_metric_families(result.body.decode())  # type: ignore[no-untyped-call]
    families = {f.name: f for f in parsed}
    remaining = families["gh_exporter_github_rate_limit_remaining"]
    assert {s.labels["org"] for s in remaining.samples} == {"acme", "globex"}
    assert families["gh_exporter_github_requests"].type == "counter"


async def test_once_page_shows_the_series_budget_and_healthy_counter_flushes(sim: Simulator, key_path: Path):
    """The page carries store.max_series_budget beside the series count, and 0 s of failing counter flushes."""
    data = config_dict(sim, key_path)
    data["store"] = {"max_series_budget": 5000}
    result = await app.once(parse_config(data), fmt=Format.OPENMETRICS)
    families = {f.name: f for f in text_string_to_metric_families(result.body.decode())}  # type: ignore[no-untyped-call]
    assert [s.value for s in families["gh_exporter_store_series_budget"].samples] == [5000]
    assert 0 < families["gh_exporter_store_series"].samples[0].value < 5000
    assert [s.value for s in families["gh_exporter_store_flush_failing_seconds"].samples] == [0]


async def test_once_reports_a_failing_source(
    sim: Simulator, key_path: Path, tmp_path: Path, keys: tuple[str, str]
):
    """A source that cannot authenticate makes `once` fail, naming the job, while the page still renders."""
    wrong = tmp_path / "wrong.pem"
    wrong.write_text(generate_key_pair()[0])
    data = config_dict(sim, key_path)
    data["github"]["orgs"][1]["private_key_path"] = str(wrong)  # type: ignore[index]
    result = await app.once(parse_config(data))
    assert not result.ok
    assert "github_probe" in result.failures
    assert b"gh_exporter_build_info" in result.body


def test_once_cli_exit_code_1_when_a_source_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """The CLI maps a failed source to exit code 1 (an unreachable API here)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "github": {
                    "api_base_url": f"http://127.0.0.1:{free_port()}",
                    "orgs": [{"org": "a", "token_env": "GSE_TEST_TOKEN"}],
                },
                "retry": {"max_attempts": 1},
                "server": {"log_level": "error"},
            }
        )
    )
    os.environ["GSE_TEST_TOKEN"] = "ghp_x"
    try:
        assert cli.main(["once", "--config", str(cfg)]) == cli.EXIT_SOURCE_FAILED
    finally:
        del os.environ["GSE_TEST_TOKEN"]
    out = capsys.readouterr()
    assert "gh_exporter_build_info" in out.out
    assert "github_probe" in out.err


async def test_serve_is_ready_then_drains_on_stop(sim: Simulator, key_path: Path):
    """serve answers /readyz 200 (and gh_exporter_ready 1) while running; after stop, readiness turns false."""
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        app.serve(settings_for(sim, key_path), stop=stop, on_listening=bound.set_result)
    )
    port = await asyncio.wait_for(bound, 10)
    async with aiohttp.ClientSession() as http:
        for _ in range(50):
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.05)
        assert resp.status == 200
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            health = await resp.json()
        assert health["role"] == "leader"
        assert health["components"]["store"] is True
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert "\ngh_exporter_ready 1\n" in await resp.text()
        stop.set()
        await asyncio.wait_for(task, 10)
    assert task.exception() is None


async def test_serve_refuses_kubernetes_leader_election_outside_a_pod(
    sim: Simulator, key_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The Kubernetes elector outside a pod is refused with a clear message (no silent static leader)."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    data = config_dict(sim, key_path)
    data["leader_election"] = {"enabled": True, "namespace": "gse"}
    with pytest.raises(app.StartupError, match="KUBERNETES_SERVICE_HOST"):
        await app.serve(parse_config(data), stop=asyncio.Event())


def _wait_for_http(url: str, timeout: float) -> str:
    import urllib.request

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                text: str = resp.read().decode()
                return text
        except OSError as exc:
            last = exc
            time.sleep(0.2)
    msg = f"{url} did not answer within {timeout}s: {last}"
    raise AssertionError(msg)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_demo_serves_metrics_and_exits_0_on_signal(sig: signal.Signals):
    """`demo` serves gh_* series within seconds and exits 0 on SIGTERM/SIGINT."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own entry point
        [sys.executable, "-m", "github_stats_exporter", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        body = _wait_for_http(f"http://127.0.0.1:{port}/metrics", 30)
        wanted = (
            "gh_exporter_github_rate_limit_remaining",
            "gh_activity_commits_24h",
            "gh_activity_loc_added_weekly",
            "gh_copilot_usage_",
            "gh_copilot_seats_by_last_activity",
        )
        deadline = time.monotonic() + 30
        while not all(name in body for name in wanted) and time.monotonic() < deadline:
            time.sleep(0.3)
            body = _wait_for_http(f"http://127.0.0.1:{port}/metrics", 5)
        # The demo shows every source: self-metrics, activity and LOC, Copilot reports and seats.
        assert 'gh_exporter_github_rate_limit_remaining{org="acme-corp"' in body
        assert 'gh_activity_commits_24h{org="acme-corp"' in body
        assert "gh_activity_loc_added_weekly{" in body
        assert 'gh_copilot_usage_code_acceptance_activity_count{org="acme-enterprise"' in body
        assert 'gh_copilot_seats_by_last_activity{org="acme-corp",scope="org",since="never"}' in body
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out.decode(errors="replace")
    assert b"metrics:   http://127.0.0.1:" in out


async def test_once_exports_exactly_the_ground_truth(key_path: Path, keys: tuple[str, str]):
    """Through the whole service, one `once` run exports activity and LOC equal to the simulator's truth."""
    start = 1_780_000_000.0
    spec = truth_world(start)
    clock = SimClock(frozen_at=start)
    async with Simulator(spec, clock=clock) as sim:
        sim.add_app(11, keys[1])
        data = config_dict(sim, key_path)
        data["loc"] = {
            "fallback_enabled": True,
            "large_repo_zero_detection_windows": 1,
            "fallback_max_commits_per_repo_per_week": 5000,
            "fallback_max_commit_detail_calls_per_org_per_hour": 5000,
        }
        await assert_once_exports_the_truth(data, sim, clock)


def copilot_page(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every gh_copilot_* sample of an OpenMetrics page, keyed like the Copilot truth."""
    parsed = text_string_to_metric_families(body.decode())  # type: ignore[no-untyped-call]
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in parsed:
        for s in family.samples:
            if s.name.startswith("gh_copilot_"):
                key = (s.name, tuple(sorted(s.labels.items())))
                assert key not in out, f"duplicate series {key}"
                out[key] = s.value
    return out


async def test_once_with_the_demo_config_exports_every_copilot_series_exactly(tmp_path: Path):
    """The shipped demo config over the demo world: every gh_copilot_* series of the page (four report types,
    both windows, its ide breakdown, the orgs' seats, teams and repositories) equals the truth, and the page has every Copilot family
    of the contract."""
    start = 1_780_000_000.0
    spec = demo_spec(start)
    keys = write_app_keys(spec, tmp_path)
    clock = SimClock(frozen_at=start)
    async with Simulator(spec, clock=clock) as sim:
        for app_id, (_, public) in keys.items():
            sim.add_app(app_id, public)
        settings = cli.demo_settings(sim.api_url, {a: p for a, (p, _) in keys.items()}, 0)
        result = await app.once(settings, fmt=Format.OPENMETRICS, clock=clock.now)
        assert result.ok, result.failures
        cfg = settings.copilot
        assert cfg.include_org_28d
        assert cfg.include_org_users_28d
        assert cfg.include_enterprise_28d
        assert cfg.include_enterprise_users_28d
        # Seats: the orgs only; the demo enterprise uses an App, which GitHub refuses on its seat list.
        assert cfg.include_seats
        assert cfg.include_seat_users
        assert cfg.include_teams
        assert cfg.include_repositories
        truth = demo_copilot_truth(settings, sim, start)
    assert copilot_page(result.body) == truth
    contract = {name for name in metrics.FAMILIES if name.startswith("gh_copilot_")}
    assert {name for name, _ in truth} == contract


def demo_copilot_truth(
    settings: Settings, sim: Simulator, start: float
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every Copilot series the demo config must serve over the demo world: four report types, both windows,
    the orgs' seats (the demo enterprise uses an App, which GitHub refuses on its seat list) and every scope's
    teams and repositories."""
    cfg = settings.copilot
    breakdowns = [
        d for d in ("ide", "feature", "language", "model") if getattr(cfg, f"include_breakdown_{d}")
    ]
    dataset = sim.copilot
    end = dataset.latest_complete_day(datetime.fromtimestamp(start, UTC).date())
    scopes = [("org", org.org) for org in settings.github.orgs] + [("enterprise", cfg.enterprise.slug)]
    truth: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for scope, scope_id in scopes:
        for report in ("aggregate", "users"):
            for window in ("1d", "28d"):
                truth.update(
                    copilot_truth(dataset, scope, scope_id, report, window, end, breakdowns=breakdowns)  # type: ignore[arg-type]
                )
    for org in settings.github.orgs:
        truth.update(seats_truth(sim.seats, "org", org.org, start, include_users=True))
    for scope, scope_id in scopes:
        truth.update(teams_truth(dataset, scope, scope_id, end))  # type: ignore[arg-type]
        truth.update(repos_truth(sim.copilot_repos, scope, scope_id, end))  # type: ignore[arg-type]
    return truth


async def test_serve_with_the_demo_config_serves_every_copilot_series_exactly(tmp_path: Path):
    """`serve` over the demo world: /metrics converges to exactly the Copilot truth, 2026 fields included."""
    start = 1_780_000_000.0
    spec = demo_spec(start)
    keys = write_app_keys(spec, tmp_path)
    clock = SimClock(frozen_at=start)
    async with Simulator(spec, clock=clock) as sim:
        for app_id, (_, public) in keys.items():
            sim.add_app(app_id, public)
        settings = cli.demo_settings(sim.api_url, {a: p for a, (p, _) in keys.items()}, 0)
        truth = demo_copilot_truth(settings, sim, start)
        stop = asyncio.Event()
        bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            app.serve(settings, stop=stop, on_listening=bound.set_result, clock=clock.now)
        )
        try:
            port = await asyncio.wait_for(bound, 10)
            page: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
                    async with http.get(f"http://127.0.0.1:{port}/metrics", headers=headers) as resp:
                        page = copilot_page(await resp.read())
                    if page == truth:
                        break
                    await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 20)
    assert page == truth
    contract = {name for name in metrics.FAMILIES if name.startswith("gh_copilot_")}
    assert {name for name, _ in truth} == contract


async def test_readiness_policy_can_require_components(sim: Simulator, key_path: Path):
    """health.readiness_requires makes /readyz wait for those components; unknown ones refuse to start."""
    data = config_dict(sim, key_path)
    data["health"] = {"github_probe_interval": "1h", "readiness_requires": ["github_api_core"]}
    async with contextlib.AsyncExitStack() as stack:
        runtime = await app.build_runtime(parse_config(data), stack)
        await runtime.cache.refresh()
        before = runtime.health.ready  # the page exists, but GitHub was never probed
        runtime.health.set("github_api_core", True)
        assert (before, runtime.health.ready) == (False, True)
    data["health"] = {"readiness_requires": ["amqp"]}  # no RabbitMQ configured
    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(app.StartupError, match="amqp"):
            await app.build_runtime(parse_config(data), stack)
