"""Re-reading the web config when it, or a certificate file it names, changes.

`WebConfigWatcher.run` polls the files' content every few seconds (content, not mtime: a rewrite in
the same clock tick, or a Kubernetes secret's symlink swap, is still seen). A changed file that
loads is handed to ``apply``; one that does not is logged and reported through
`gh_exporter_web_config_last_reload_successful` while the previous config stays in force.

This module never serves requests and never decides what a config means (`webconfig.py` does).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import structlog

from github_stats_exporter.metrics import WEB_CONFIG_RELOAD_OK
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.webconfig import WebConfig, WebConfigError, load_web_config

log = structlog.get_logger(__name__)

POLL_SECONDS = 5.0
"""How often the web config and its certificate files are checked for changes."""

Apply = Callable[[WebConfig], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


def fingerprint(files: Iterable[Path]) -> bytes:
    """A digest of the files' names and contents; a missing or unreadable file counts as a state too."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file).encode() + b"\0")
        try:
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        except OSError as exc:
            digest.update(f"unreadable:{exc.errno}".encode())
    return digest.digest()


class WebConfigWatcher:
    """Owns the current `WebConfig` and replaces it, through ``apply``, when its files change."""

    def __init__(
        self,
        path: Path,
        current: WebConfig,
        apply: Apply,
        metrics: SelfMetrics,
        *,
        interval: float = POLL_SECONDS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._path = path
        self._current = current
        self._apply = apply
        self._metrics = metrics
        self._interval = interval
        self._sleep = sleep
        self._watched = current.files or (path,)
        self._stamp = fingerprint(self._watched)
        metrics.set(WEB_CONFIG_RELOAD_OK, value=1)

    @property
    def current(self) -> WebConfig:
        return self._current

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            await self._sleep(self._interval)
            await self.poll()

    async def poll(self) -> bool:
        """Check the files once; True when a new config was applied."""
        stamp = await asyncio.to_thread(fingerprint, self._watched)
        if stamp == self._stamp:
            return False
        try:
            new = await asyncio.to_thread(load_web_config, self._path)
        except WebConfigError as exc:
            # Watch what the new file names too, so fixing a missing certificate triggers a retry.
            self._watched = await asyncio.to_thread(self._files_named, self._current)
            self._stamp = await asyncio.to_thread(fingerprint, self._watched)
            self._metrics.set(WEB_CONFIG_RELOAD_OK, value=0)
            log.error("web_config_reload_failed", path=str(self._path), problems=exc.problems)
            return False
        await self._apply(new)
        self._current = new
        self._watched = new.files
        self._stamp = await asyncio.to_thread(fingerprint, self._watched)
        self._metrics.set(WEB_CONFIG_RELOAD_OK, value=1)
        log.info(
            "web_config_reloaded",
            path=str(self._path),
            tls=new.tls is not None,
            users=len(new.users),
        )
        return True

    def _files_named(self, fallback: WebConfig) -> tuple[Path, ...]:
        try:
            named = load_web_config(self._path, read_files=False).files
        except WebConfigError:
            named = ()
        return tuple(dict.fromkeys((self._path, *named, *fallback.files)))
