"""A private RabbitMQ node for the test session: Debian's rabbitmq-server on loopback, free ports, tmp dir.

The node runs as root straight from /usr/lib/rabbitmq/bin (the /usr/sbin wrapper would `su` to the
rabbitmq user) with HOME, cookie, data and logs in a temporary directory and no plugins (no management
API: the adapter must not need it). Tests can stop and start it again (restart tests); data survives.
The package comes from scripts/system-deps.sh; these fixtures never install anything themselves.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
BOOT_TIMEOUT = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RabbitNode:
    """One RabbitMQ node; `start`/`stop` may be called repeatedly (data and ports are kept)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.node = f"gse-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text("loopback_users = none\n")
        (base / "rabbitmq-env.conf").write_text("")
        cookie = base / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex.upper())
        cookie.chmod(0o400)
        self.pid_file = base / "rabbit.pid"
        self.env = {
            **os.environ,
            "HOME": str(base),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        }
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed binary, arguments built by this fixture
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> float:
        """Boot the node and wait until it accepts AMQP; returns the boot time in seconds."""
        started = time.monotonic()
        self.pid_file.unlink(missing_ok=True)
        subprocess.run(  # noqa: S603 - fixed binary, no outside input
            [str(RABBIT_BIN / "rabbitmq-server"), "-detached"], env=self.env, check=True, timeout=60
        )
        waited = self._ctl(
            "wait", "--timeout", str(BOOT_TIMEOUT), str(self.pid_file), timeout=BOOT_TIMEOUT + 10
        )
        if waited.returncode != 0:
            msg = f"rabbitmq did not start: {waited.stdout}\n{waited.stderr}"
            raise RuntimeError(msg)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return time.monotonic() - started

    def stop(self) -> None:
        """Stop the node cleanly (durable queues and persistent messages stay on disk)."""
        pid = self.pid_file.read_text().strip() if self.pid_file.exists() else ""
        self._ctl("stop", timeout=60)
        if pid.isdigit():
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    os.kill(int(pid), 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)
            os.kill(int(pid), signal.SIGKILL)

    def queue_depths(self) -> dict[str, int]:
        """Ready message counts per queue, read through rabbitmqctl (independent of the adapter)."""
        listed = self._ctl("list_queues", "name", "messages_ready", "--quiet", "--no-table-headers")
        depths: dict[str, int] = {}
        for line in listed.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                depths[parts[0]] = int(parts[1])
        return depths


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory: pytest.TempPathFactory, tool: Callable[..., str]) -> Iterator[RabbitNode]:
    """A running node for the whole session, stopped at the end (skipped locally / failed in CI without it)."""
    tool("rabbitmq-server", RABBIT_BIN / "rabbitmq-server")
    node = RabbitNode(tmp_path_factory.mktemp("rabbitmq"))
    node.boot_seconds = node.start()  # type: ignore[attr-defined]
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def names() -> dict[str, str]:
    """Unique exchange/queue names per test, so tests never see each other's messages."""
    suffix = uuid.uuid4().hex[:8]
    return {"exchange": f"gse.test.{suffix}", "queue": f"gse.test.{suffix}.jobs", "dlq": ""}
