"""A real Prometheus (Debian's 2.42) scrapes the exporter over TLS with basic auth and with mutual TLS.

Two exporters run through `app.serve` with web config files (certificates generated per test):
one with TLS and basic auth, one requiring verified client certificates. Prometheus scrapes each with
and without the credentials; only the credentialed jobs are up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
from tests.support.certs import Pki, make_pki
from tests.support.prometheus_server import Series, running_prometheus, wait_until

from github_stats_exporter import app
from github_stats_exporter.config import parse_config
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec

pytestmark = pytest.mark.integration

PASSWORD = "scrape-s3cret"


@pytest.fixture
def prometheus(tool: Callable[..., str]) -> str:
    """The prometheus binary; skipped locally / failed under CI=true when it is missing."""
    return tool("prometheus")


@pytest.fixture
async def exporters(tmp_path: Path) -> AsyncIterator[tuple[Pki, int, int]]:
    """(pki, port of the TLS + basic auth exporter, port of the mutual-TLS exporter)."""
    pki = make_pki(tmp_path)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    tls = f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
    (tmp_path / "auth.yml").write_text(f"{tls}basic_auth_users:\n  prometheus: '{hashed}'\n")
    (tmp_path / "mtls.yml").write_text(
        f"{tls}  client_ca_file: {pki.ca}\n  client_auth_type: RequireAndVerifyClientCert\n"
    )
    private, public = generate_key_pair()
    key = tmp_path / "app.pem"
    key.write_text(private)
    spec = WorldSpec(
        seed=5, orgs=(OrgSpec("acme", repos=6, users=2, app_id=11, installation_id=21),), start=time.time()
    )
    async with Simulator(spec) as sim, contextlib.AsyncExitStack() as stack:
        sim.add_app(11, public)
        ports = []
        for web in ("auth.yml", "mtls.yml"):
            settings = parse_config(
                {
                    "server": {
                        "listen_addr": "127.0.0.1:0",
                        "log_level": "warning",
                        "web_config_file": str(tmp_path / web),
                    },
                    "github": {
                        "api_base_url": sim.api_url,
                        "orgs": [
                            {"org": "acme", "app_id": 11, "installation_id": 21, "private_key_path": str(key)}
                        ],
                    },
                }
            )
            stop = asyncio.Event()
            bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(app.serve(settings, stop=stop, on_listening=bound.set_result))
            ports.append(await asyncio.wait_for(bound, 10))

            async def halt(stop: asyncio.Event = stop, task: asyncio.Task[None] = task) -> None:
                stop.set()
                await asyncio.wait_for(task, 10)

            stack.push_async_callback(halt)
        yield pki, ports[0], ports[1]


def job(name: str, port: int, pki: Pki, *, auth: bool = False, cert: bool = False) -> str:
    text = (
        f"  - job_name: {name}\n"
        "    scheme: https\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        f"    tls_config:\n      ca_file: {pki.ca}\n"
    )
    if cert:
        text += f"      cert_file: {pki.client_cert}\n      key_file: {pki.client_key}\n"
    if auth:
        text += f"    basic_auth:\n      username: prometheus\n      password: {PASSWORD}\n"
    return text


async def test_prometheus_scrapes_over_tls_only_with_credentials(
    prometheus: str, exporters: tuple[Pki, int, int], tmp_path: Path
):
    """Credentialed jobs are up with the exporter's series; without password or client cert they are down."""
    pki, auth_port, mtls_port = exporters
    config = (
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        + job("with_password", auth_port, pki, auth=True)
        + job("without_password", auth_port, pki)
        + job("with_client_cert", mtls_port, pki, cert=True)
        + job("without_client_cert", mtls_port, pki)
    )
    async with running_prometheus(prometheus, config, tmp_path) as prom:
        seen: dict[str, dict[str, Any]] = {}
        build: list[Series] = []

        async def settled() -> bool:
            nonlocal seen, build
            seen = {t["labels"]["job"]: t for t in await prom.targets()}
            build = await prom.query("gh_exporter_build_info")
            scraped = len(seen) == 4 and all(t["health"] != "unknown" for t in seen.values())
            return scraped and {b["metric"]["job"] for b in build} == {"with_password", "with_client_cert"}

        await wait_until(settled, 40)
        assert seen["with_password"]["health"] == "up", seen["with_password"]["lastError"]
        assert seen["with_client_cert"]["health"] == "up", seen["with_client_cert"]["lastError"]
        assert seen["without_password"]["health"] == "down"
        assert "401" in seen["without_password"]["lastError"]
        assert seen["without_client_cert"]["health"] == "down"
        # The handshake fails; Go words it "EOF" or "certificate required" depending on timing.
        assert seen["without_client_cert"]["lastError"]
        assert {b["metric"]["job"] for b in build} == {"with_password", "with_client_cert"}
        assert all(b["value"][1] == "1" for b in build)


async def test_plain_clients_are_refused(exporters: tuple[Pki, int, int]):
    """Without a password the TLS exporter answers 401 with a Basic challenge; without a cert mTLS fails."""
    pki, auth_port, mtls_port = exporters
    trust = ssl.create_default_context(cafile=pki.ca)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"https://127.0.0.1:{auth_port}/metrics", ssl=trust) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"] == "Basic"
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"https://127.0.0.1:{mtls_port}/livez", ssl=trust) as resp:
                await resp.read()
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"http://127.0.0.1:{auth_port}/metrics") as resp:
                await resp.read()
