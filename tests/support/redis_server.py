"""Throwaway redis-server / Sentinel processes on free loopback ports, for tests, benchmarks and demos.

It starts the Debian binaries in a private directory and waits until they answer PING. It lives under
``tests/`` because the exporter never needs it; tests import it as ``tests.support.redis_server`` and
benchmarks (run from the repository root) the same way. It must not import the redis client library.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_START_TIMEOUT_SECONDS = 10.0


class RedisServerError(RuntimeError):
    """The binary is missing or the process did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (Redis cannot bind port 0 itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send_command(port: int, *words: str, timeout: float = 1.0) -> bytes:
    """Send one inline command and return the raw first reply chunk (enough for PING/INFO checks)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(" ".join(words).encode() + b"\r\n")
        return sock.recv(65536)


def _find(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/bin/{binary}" if Path(f"/usr/bin/{binary}").exists() else None)
    if path is None:
        msg = f"{binary} not found; install the Debian package (scripts/system-deps.sh)"
        raise RedisServerError(msg)
    return path


@dataclass
class RedisProcess:
    """One redis-server (or Sentinel) process; `start` and `stop` may be called repeatedly (restarts)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    extra: tuple[str, ...] = ()
    sentinel: bool = False
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.workdir / ("sentinel.conf" if self.sentinel else "redis.conf")

    def start(self) -> RedisProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.conf.exists():
            lines = [f"port {self.port}", "bind 127.0.0.1", f'dir "{self.workdir}"', "protected-mode no"]
            if not self.sentinel:
                lines += ["save ''", "appendonly no"]
            lines += list(self.extra)
            self.conf.write_text("\n".join(lines) + "\n")
        args = [_find("redis-server"), str(self.conf)]
        if self.sentinel:
            args.append("--sentinel")
        log = (self.workdir / "server.log").open("ab")
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)  # noqa: S603 - our own argv
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                break
            with contextlib.suppress(OSError):
                if send_command(self.port, "PING").startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        log = (self.workdir / "server.log").read_text(errors="replace")[-2000:]
        self.stop()
        msg = f"redis on port {self.port} did not start:\n{log}"
        raise RedisServerError(msg)

    def stop(self) -> None:
        """Stop the process (SIGTERM: Redis writes its append-only file before exiting)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (benchmarks read its CPU time from ``/proc``)."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


def start_sentinel_setup(workdir: Path, master_set: str = "gse-master") -> tuple[RedisProcess, RedisProcess]:
    """A master plus one Sentinel watching it (quorum 1): enough to exercise the Sentinel client path."""
    master = RedisProcess(workdir / "master").start()
    sentinel = RedisProcess(
        workdir / "sentinel",
        sentinel=True,
        extra=(
            f"sentinel monitor {master_set} 127.0.0.1 {master.port} 1",
            f"sentinel down-after-milliseconds {master_set} 1000",
            f"sentinel failover-timeout {master_set} 5000",
        ),
    ).start()
    return master, sentinel
