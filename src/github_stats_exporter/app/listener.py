"""The HTTP listener of `serve`: the web config (TLS, basic auth), the server and its reload watcher.

Loads ``server.web_config_file`` once at start (a bad file refuses the start, exit 2), opens the
listener, and builds the `WebConfigWatcher` whose changes swap the users and, when the TLS part
changed, re-open the listener with the new context. The watcher's loop is run by `lifecycle.serve`,
which owns every task; nothing here schedules anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from github_stats_exporter.app.runtime import StartupError
from github_stats_exporter.basic_auth import PROBE_PATHS, AccessGate, BasicAuth
from github_stats_exporter.config import ServerConfig
from github_stats_exporter.exposition import ExpositionCache
from github_stats_exporter.health import Health
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.server import HttpServer, build_app, parse_listen_addr
from github_stats_exporter.webconfig import PLAIN, WebConfig, WebConfigError, load_web_config
from github_stats_exporter.webconfig_watch import WebConfigWatcher

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Listener:
    """A started HTTP server, its bound port and address, and the watcher (None without a web config)."""

    server: HttpServer
    host: str
    port: int
    tls: bool
    watcher: WebConfigWatcher | None


def startup_web_config(path: str) -> WebConfig:
    """The web config at ``path`` (plain HTTP without one); a bad file is a `StartupError`."""
    if not path:
        return PLAIN
    try:
        return load_web_config(path)
    except WebConfigError as exc:
        raise StartupError(str(exc)) from exc


async def open_listener(
    cfg: ServerConfig, cache: ExpositionCache, health: Health, metrics: SelfMetrics
) -> Listener:
    """Load the web config, start the server; the caller stops it (``listener.server.stop``)."""
    web_config = startup_web_config(cfg.web_config_file)
    gate = AccessGate(
        BasicAuth(web_config.users),
        open_paths=PROBE_PATHS if cfg.probes_without_auth else frozenset(),
    )
    host, port = parse_listen_addr(cfg.listen_addr)
    app = build_app(cache, health, metrics, gate)
    server = HttpServer(app, host, port, ssl_context=web_config.ssl_context)
    bound = await server.start()
    tls_in_force = web_config.tls_fingerprint

    async def apply(new: WebConfig) -> None:
        nonlocal tls_in_force
        if new.tls_fingerprint != tls_in_force:
            try:
                await server.use_tls(new.ssl_context)
            except OSError as exc:
                # The port was taken while it was re-bound: nothing listens any more, so fail loudly
                # and let the supervisor restart the process rather than run deaf.
                log.error("listener_reopen_failed", host=host, port=bound, error=str(exc))
                raise
            tls_in_force = new.tls_fingerprint
        gate.use(BasicAuth(new.users))

    watcher = (
        WebConfigWatcher(Path(cfg.web_config_file), web_config, apply, metrics)
        if cfg.web_config_file
        else None
    )
    return Listener(server, host, bound, web_config.ssl_context is not None, watcher)
