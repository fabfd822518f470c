"""A throwaway real Prometheus server for integration and end-to-end tests, and a poller for its API.

`running_prometheus` writes the given config into the test's directory, starts the binary on a free
loopback port, waits until `/-/ready` answers 200 and yields a `PrometheusServer` for the HTTP API. On
leaving - also when the test fails or is cancelled - the process is terminated, killed after a grace
period, and always reaped. It lives under ``tests/`` because the exporter never runs Prometheus; it must
not find the binary itself (callers pass the one the `tool()` fixture found) and must not assert on what
Prometheus holds: that is the tests' job.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

READY_TIMEOUT_SECONDS = 60.0
"""How long the process may take to answer /-/ready (a backfilled TSDB is read in first)."""
STOP_TIMEOUT_SECONDS = 20.0
"""How long a terminated process may take to exit before it is killed."""
POLL_INTERVAL_SECONDS = 0.2

Series = dict[str, Any]
"""One element of a query result: `metric` labels and `value` (instant) or `values` (range)."""


class PrometheusError(RuntimeError):
    """The process did not come up, or the API answered something other than success."""


@dataclass(frozen=True, slots=True)
class PrometheusServer:
    """The HTTP API of one running Prometheus; `http` is owned and closed by `running_prometheus`."""

    base_url: str
    http: aiohttp.ClientSession

    async def api(self, path: str, params: dict[str, str] | None = None) -> Any:
        """The `data` of a GET on ``path`` (such as ``/api/v1/rules``); an error status raises PrometheusError."""
        async with self.http.get(f"{self.base_url}{path}", params=params) as resp:
            payload = await resp.json()
        if payload.get("status") != "success":
            msg = f"Prometheus answered {path} {params} with {payload}"
            raise PrometheusError(msg)
        return payload["data"]

    async def query(self, expr: str) -> list[Series]:
        """The result of an instant query at the server's present."""
        data = await self.api("/api/v1/query", {"query": expr})
        result: list[Series] = data["result"]
        return result

    async def query_range(self, expr: str, *, start: float, end: float, step: float) -> list[Series]:
        """The result of a range query from ``start`` to ``end`` (Unix seconds) every ``step`` seconds."""
        params = {"query": expr, "start": str(start), "end": str(end), "step": str(step)}
        data = await self.api("/api/v1/query_range", params)
        result: list[Series] = data["result"]
        return result

    async def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets, each with its `labels`, `health` and `lastError`."""
        data = await self.api("/api/v1/targets")
        active: list[dict[str, Any]] = data["activeTargets"]
        return active


async def wait_until(predicate: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    """Awaits ``predicate`` every 0.2 s until it is true (True) or ``seconds`` have passed (False)."""
    deadline = time.monotonic() + seconds
    while not await predicate():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL_SECONDS)
    return True


@contextlib.asynccontextmanager
async def running_prometheus(
    binary: str,
    config_text: str,
    tmp_path: Path,
    *,
    extra_args: Sequence[str] = (),
    data_dir: Path | None = None,
) -> AsyncIterator[PrometheusServer]:
    """A ready Prometheus with ``config_text`` on a free loopback port, its TSDB in ``data_dir``
    (``tmp_path/tsdb`` by default) and its log in ``tmp_path/prometheus.log``; stopped on exit."""
    config = tmp_path / "prometheus.yml"
    config.write_text(config_text)
    log = tmp_path / "prometheus.log"
    base_url = f"http://127.0.0.1:{_free_port()}"
    with log.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir or tmp_path / 'tsdb'}",
            f"--web.listen-address={base_url.removeprefix('http://')}",
            *extra_args,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        async with aiohttp.ClientSession() as http:
            await _wait_ready(proc, http, base_url, log)
            yield PrometheusServer(base_url, http)
    finally:
        await _stop(proc)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_ready(
    proc: asyncio.subprocess.Process, http: aiohttp.ClientSession, base_url: str, log: Path
) -> None:
    async def ready() -> bool:
        if proc.returncode is not None:
            msg = f"prometheus exited with {proc.returncode}: {_tail(log)}"
            raise PrometheusError(msg)
        try:
            async with http.get(f"{base_url}/-/ready") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    if not await wait_until(ready, READY_TIMEOUT_SECONDS):
        msg = f"prometheus was not ready within {READY_TIMEOUT_SECONDS:.0f} s: {_tail(log)}"
        raise PrometheusError(msg)


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-10:])


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Terminates, kills after the grace period (or at once when cancelled), and reaps the process."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
