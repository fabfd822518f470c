"""``--tsdb``: turn the written file into TSDB blocks with Prometheus's own ``promtool``.

Finds ``promtool`` on the PATH (a clear error when it is missing) and runs
``promtool tsdb create-blocks-from openmetrics FILE DIR``. It must not write the file or touch
a running Prometheus.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from github_stats_exporter.history.plan import HistoryError

MISSING = (
    "--tsdb needs promtool on the PATH (Debian: apt-get install prometheus); without it, write the file "
    "and run: promtool tsdb create-blocks-from openmetrics FILE DIR"
)


def promtool() -> str:
    """The promtool binary, or `HistoryError` saying how to get it."""
    path = shutil.which("promtool")
    if path is None:
        raise HistoryError(MISSING)
    return path


async def create_blocks(binary: str, source: Path, tsdb: Path) -> str:
    """Run promtool on ``source`` into ``tsdb``; returns its output, raises `HistoryError` on failure."""
    await asyncio.to_thread(tsdb.mkdir, parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        binary,
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        str(source),
        str(tsdb),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode("utf-8", "replace")
    if proc.returncode != 0:
        msg = f"promtool failed (exit {proc.returncode}): {text.strip()[-2000:]}"
        raise HistoryError(msg)
    return text
