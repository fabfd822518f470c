"""The TLS listener and its reload: new users and certificates take effect without a restart.

Real listeners on 127.0.0.1:0 with certificates generated per test; the watcher is polled directly
(no sleeping), as its loop would every few seconds.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from tests.support.certs import Pki, make_pki

from github_stats_exporter.app.listener import Listener, open_listener, startup_web_config
from github_stats_exporter.app.runtime import StartupError
from github_stats_exporter.config import ServerConfig
from github_stats_exporter.exposition import ExpositionCache
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import WEB_CONFIG_RELOAD_OK
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.server import HttpServer, build_app
from github_stats_exporter.store.memory import MemorySnapshotStore
from github_stats_exporter.webconfig_watch import WebConfigWatcher


def bcrypt_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def web_yaml(pki: Pki | None, users: dict[str, str], client_auth: str = "") -> str:
    text = ""
    if pki is not None:
        text += f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
        if client_auth:
            text += f"  client_ca_file: {pki.ca}\n  client_auth_type: {client_auth}\n"
    if users:
        text += "basic_auth_users:\n" + "".join(f"  {u}: '{h}'\n" for u, h in users.items())
    return text


def client_context(pki: Pki, *, with_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca)
    if with_cert:
        context.load_cert_chain(pki.client_cert, pki.client_key)
    return context


@dataclass
class Running:
    listener: Listener
    metrics: SelfMetrics
    path: Path

    @property
    def watcher(self) -> WebConfigWatcher:
        assert self.listener.watcher is not None
        return self.listener.watcher

    async def get(
        self, *, context: ssl.SSLContext | None = None, headers: dict[str, str] | None = None
    ) -> int:
        """Status of GET /metrics on a fresh connection (https when a client context is given)."""
        scheme = "https" if context is not None else "http"
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{scheme}://127.0.0.1:{self.listener.port}/metrics",
                ssl=context if context is not None else False,
                headers=headers or {},
            ) as resp,
        ):
            return resp.status


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[object]:
    started: list[Listener] = []

    async def run(text: str) -> Running:
        path = tmp_path / "web.yml"
        path.write_text(text)
        metrics = SelfMetrics()
        cache = ExpositionCache(MemorySnapshotStore(), metrics)
        await cache.refresh()
        cfg = ServerConfig(listen_addr="127.0.0.1:0", web_config_file=str(path))
        listener = await open_listener(cfg, cache, Health(lambda: cache.ready, metrics), metrics)
        started.append(listener)
        return Running(listener, metrics, path)

    yield run
    for listener in started:
        await listener.server.stop()


async def test_tls_with_basic_auth_serves_only_the_right_password(start, tmp_path: Path):
    """Over TLS the right password gets 200, none or a wrong one gets 401, plain HTTP gets nothing."""
    pki = make_pki(tmp_path)
    running = await start(web_yaml(pki, {"prometheus": bcrypt_hash("s3cret")}))
    assert running.listener.tls
    context = client_context(pki)
    assert await running.get(context=context, headers=basic("prometheus", "s3cret")) == 200
    assert await running.get(context=context) == 401
    assert await running.get(context=context, headers=basic("prometheus", "nope")) == 401
    with pytest.raises(aiohttp.ClientError):
        await running.get(headers=basic("prometheus", "s3cret"))


async def test_mutual_tls_requires_a_client_certificate(start, tmp_path: Path):
    """RequireAndVerifyClientCert: a client with a certificate from the CA is served, one without fails."""
    pki = make_pki(tmp_path)
    running = await start(web_yaml(pki, {}, "RequireAndVerifyClientCert"))
    assert await running.get(context=client_context(pki, with_cert=True)) == 200
    with pytest.raises(aiohttp.ClientError):
        await running.get(context=client_context(pki))


async def test_a_changed_users_file_applies_without_restart(start, tmp_path: Path):
    """After the users change, the new password works and the old one is refused, on the same port."""
    running = await start(web_yaml(None, {"prometheus": bcrypt_hash("old")}))
    port = running.listener.port
    assert await running.get(headers=basic("prometheus", "old")) == 200
    assert not await running.watcher.poll()  # nothing changed yet
    running.path.write_text(web_yaml(None, {"prometheus": bcrypt_hash("new")}))
    assert await running.watcher.poll()
    assert running.listener.port == port
    assert await running.get(headers=basic("prometheus", "new")) == 200
    assert await running.get(headers=basic("prometheus", "old")) == 401
    assert running.metrics.value(WEB_CONFIG_RELOAD_OK) == 1


async def test_a_bad_new_file_keeps_the_old_config(start, tmp_path: Path):
    """A broken rewrite is refused: the old password keeps working and the reload gauge drops to 0."""
    running = await start(web_yaml(None, {"prometheus": bcrypt_hash("old")}))
    running.path.write_text("basic_auth_users:\n  prometheus: not-a-hash\n")
    assert not await running.watcher.poll()
    assert await running.get(headers=basic("prometheus", "old")) == 200
    assert running.metrics.value(WEB_CONFIG_RELOAD_OK) == 0
    # Fixing the file recovers without a restart.
    running.path.write_text(web_yaml(None, {"prometheus": bcrypt_hash("fixed")}))
    assert await running.watcher.poll()
    assert await running.get(headers=basic("prometheus", "fixed")) == 200
    assert running.metrics.value(WEB_CONFIG_RELOAD_OK) == 1


async def test_a_rotated_certificate_is_served_after_reload(start, tmp_path: Path):
    """New bytes in cert_file/key_file re-open the listener: clients trusting only the new CA connect."""
    old, new = make_pki(tmp_path, "old-"), make_pki(tmp_path, "new-")
    running = await start(web_yaml(old, {}))
    assert await running.get(context=client_context(old)) == 200
    old.server_cert.write_bytes(new.server_cert.read_bytes())
    old.server_key.write_bytes(new.server_key.read_bytes())
    assert await running.watcher.poll()
    assert await running.get(context=client_context(new)) == 200
    with pytest.raises(aiohttp.ClientError):
        await running.get(context=client_context(old))


async def test_a_certificate_replaced_by_garbage_keeps_the_old_one(start, tmp_path: Path):
    """A cert file that no longer parses is refused; the listener keeps serving the previous certificate."""
    pki = make_pki(tmp_path)
    running = await start(web_yaml(pki, {}))
    pki.server_cert.write_text("garbage\n")
    assert not await running.watcher.poll()
    assert await running.get(context=client_context(pki)) == 200
    assert running.metrics.value(WEB_CONFIG_RELOAD_OK) == 0


async def test_tls_can_be_switched_on_by_a_reload(start, tmp_path: Path):
    """A web config that gains tls_server_config moves the same port from HTTP to HTTPS."""
    pki = make_pki(tmp_path)
    running = await start(web_yaml(None, {}))
    assert await running.get() == 200
    running.path.write_text(web_yaml(pki, {}))
    assert await running.watcher.poll()
    assert await running.get(context=client_context(pki)) == 200


def test_a_bad_web_config_refuses_the_start(tmp_path: Path):
    """At start a broken web config is a StartupError (exit 2) that lists its problems."""
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: c.pem\n")
    with pytest.raises(StartupError, match="key_file: is required"):
        startup_web_config(str(path))


async def test_a_certificate_that_appears_later_is_picked_up(start, tmp_path: Path):
    """A web config naming certificate files that do not exist yet loads once they are written."""
    running = await start(web_yaml(None, {}))
    (tmp_path / "later").mkdir()
    pki = make_pki(tmp_path / "later")
    cert, key = pki.server_cert.read_bytes(), pki.server_key.read_bytes()
    pki.server_cert.unlink()
    pki.server_key.unlink()
    running.path.write_text(web_yaml(pki, {}))
    assert not await running.watcher.poll()
    assert not await running.watcher.poll()  # unchanged since the failure: not retried, not re-logged
    pki.server_cert.write_bytes(cert)
    pki.server_key.write_bytes(key)
    assert await running.watcher.poll()
    assert await running.get(context=client_context(pki)) == 200


class Stop(Exception):
    """Ends the watcher's loop in the test."""


async def test_the_watcher_polls_on_its_interval(tmp_path: Path):
    """run() sleeps the configured interval between polls and applies a change it finds."""
    path = tmp_path / "web.yml"
    path.write_text(web_yaml(None, {}))
    applied: list[int] = []
    sleeps: list[float] = []

    async def apply(new: object) -> None:
        applied.append(1)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            path.write_text(web_yaml(None, {"prometheus": bcrypt_hash("x")}))
        if len(sleeps) == 3:
            raise Stop

    watcher = WebConfigWatcher(
        path, startup_web_config(str(path)), apply, SelfMetrics(), interval=7.0, sleep=sleep
    )
    with pytest.raises(Stop):
        await watcher.run()
    assert sleeps == [7.0, 7.0, 7.0]
    assert applied == [1]
    assert set(watcher.current.users) == {"prometheus"}


def test_without_a_web_config_the_listener_is_plain():
    """No web_config_file: plain HTTP and no users."""
    config = startup_web_config("")
    assert config.ssl_context is None
    assert dict(config.users) == {}


async def test_tls_cannot_be_swapped_on_a_server_that_is_not_running():
    """use_tls before start is a programming error, not a silent no-op."""
    metrics = SelfMetrics()
    cache = ExpositionCache(MemorySnapshotStore(), metrics)
    server = HttpServer(build_app(cache, Health(lambda: True, metrics), metrics), "127.0.0.1", 0)
    with pytest.raises(RuntimeError, match="not running"):
        await server.use_tls(None)
