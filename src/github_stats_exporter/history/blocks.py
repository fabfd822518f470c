"""``--tsdb``: turn the written file into TSDB blocks with Prometheus's own ``promtool``.

Finds ``promtool`` on the PATH (a clear error when it is missing), splits the file into weeks
(`chunks`: promtool reads its whole input once per block, so a year in one file is slow) and runs
``promtool tsdb create-blocks-from openmetrics WEEK DIR`` for each. It must not write the history
file or touch a running Prometheus.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from github_stats_exporter.history.chunks import split_by_week
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


async def create_blocks(binary: str, source: Path, tsdb: Path, scratch: Path) -> str:
    """Blocks of ``source`` in ``tsdb``, week by week (the weeks go to ``scratch`` and are removed after).

    Returns promtool's output; raises `HistoryError` when it fails.
    """
    await asyncio.to_thread(tsdb.mkdir, parents=True, exist_ok=True)
    weeks = await asyncio.to_thread(split_by_week, source, scratch)
    try:
        out = [await _promtool(binary, week, tsdb) for week in weeks]
    finally:
        for week in weeks:
            await asyncio.to_thread(week.unlink, missing_ok=True)
    return "".join(out)


async def _promtool(binary: str, source: Path, tsdb: Path) -> str:
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
