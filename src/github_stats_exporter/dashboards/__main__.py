"""``python -m github_stats_exporter.dashboards [--check] DIR``: write the dashboards' JSON into DIR.

With ``--check`` nothing is written; the exit code is 1 when a file is missing, differs or is not one
of the generated dashboards. Does not decide what the dashboards contain (`catalog` does).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from github_stats_exporter.dashboards.catalog import files


def stale(directory: Path) -> list[str]:
    """Names of the files in ``directory`` that differ from the generated ones, are missing or are extra."""
    wanted = files()
    present = {p.name for p in directory.glob("*.json")}
    out = sorted(present - wanted.keys())
    for name, text in wanted.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(name)
    return sorted(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m github_stats_exporter.dashboards")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--check", action="store_true", help="report stale files; write nothing")
    args = parser.parse_args(argv)
    directory: Path = args.directory
    if args.check:
        names = stale(directory)
        for name in names:
            sys.stderr.write(f"{directory / name}: stale, run `make dashboards`\n")
        return 1 if names else 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files().items():
        (directory / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
