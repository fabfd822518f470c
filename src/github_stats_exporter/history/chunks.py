"""One OpenMetrics history file → one file per week of timestamps, for promtool.

``promtool tsdb create-blocks-from`` reads its whole input once per block it writes (one block per
day that has samples), so its time grows with days x file size. Split into weeks, each input holds a
week's samples only and a year goes through promtool many times faster. Each chunk keeps the order of
the source (families contiguous, each series' points together and oldest first), repeats a family's
metadata before its first sample in that chunk and ends with ``# EOF``. It must not run promtool.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import IO

CHUNK_SECONDS = 7 * 86400
_EOF = b"# EOF\n"


def split_by_week(source: Path, directory: Path) -> list[Path]:
    """Write ``source``'s samples into ``directory``/``week-<n>.om`` files; returns them oldest first."""
    directory.mkdir(parents=True, exist_ok=True)
    outputs: dict[int, IO[bytes]] = {}
    family_of: dict[int, bytes] = {}
    header: list[bytes] = []
    family = b""
    with contextlib.ExitStack() as stack, source.open("rb") as lines:
        for line in lines:
            if line.startswith(b"#"):
                if line == _EOF:
                    break
                name = line.split(b" ", 3)[2]
                if name != family:
                    family, header = name, []
                header.append(line)
                continue
            week = int(float(line.rsplit(b" ", 1)[1])) // CHUNK_SECONDS
            out = outputs.get(week)
            if out is None:
                out = outputs[week] = stack.enter_context((directory / f"week-{week}.om").open("wb"))
            if family_of.get(week) != family:
                family_of[week] = family
                out.writelines(header)
            out.write(line)
        for out in outputs.values():
            out.write(_EOF)
    return [directory / f"week-{week}.om" for week in sorted(outputs)]
