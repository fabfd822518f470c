"""Import boundaries: a memory-only exporter never loads the Redis or RabbitMQ clients."""

from __future__ import annotations

import subprocess
import sys


def test_memory_only_run_never_imports_redis_or_aio_pika():
    """Importing the CLI and the composition root leaves redis and aio_pika unloaded."""
    code = (
        "import sys, github_stats_exporter.cli, github_stats_exporter.app;"
        "print(sorted(m for m in ('redis', 'aio_pika', 'aiormq') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert out.stdout.strip() == "[]"
