"""The state directory of a history run: what the plan was, which tasks are finished, their runs.

``plan.json`` holds the plan's fingerprint: a state directory of another plan (other reports, orgs or
label settings) is refused rather than mixed in. Each finished task leaves ``runs/<key>.run`` (its
sorted lines, possibly empty) and then ``runs/<key>.json`` (its outcome); the JSON, written last and
atomically, is what marks the task done, so an interrupted task is simply done again. It must not
fetch anything or know the output format.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import msgspec

from github_stats_exporter.history.plan import HistoryError
from github_stats_exporter.history.spill import write_run

Outcome = Literal["ok", "no_report"]


class TaskRecord(msgspec.Struct, frozen=True):
    """How a finished task ended: ``no_report`` is a 204 day; ``samples`` are the points of its run."""

    outcome: Outcome
    samples: int = 0
    requests: int = 0
    bytes: int = 0


class StateDir:
    """Finished tasks of one plan under ``path`` (created when missing)."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.runs = path / "runs"
        self.runs.mkdir(parents=True, exist_ok=True)
        marker = path / "plan.json"
        if marker.exists():
            stored = marker.read_text(encoding="utf-8")
            if stored != fingerprint:
                msg = (
                    f"state directory {path} belongs to another history plan (other reports, orgs or "
                    "label settings); pass another --state directory or remove this one"
                )
                raise HistoryError(msg)
        else:
            tmp = marker.with_name("plan.json.tmp")
            tmp.write_text(fingerprint, encoding="utf-8")
            tmp.replace(marker)

    def done(self, key: str) -> TaskRecord | None:
        """The record of a finished task; None when it has not finished (or its record is unreadable)."""
        path = self.runs / f"{key}.json"
        try:
            return msgspec.json.decode(path.read_bytes(), type=TaskRecord)
        except FileNotFoundError:
            return None
        except msgspec.DecodeError:
            return None  # cut short by a crash: do the task again

    def finish(self, key: str, lines: Iterable[str], record: TaskRecord) -> None:
        """Store a task's run, then its record (the record marks it done)."""
        write_run(self.run_path(key), lines)
        path = self.runs / f"{key}.json"
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as out:
            out.write(msgspec.json.encode(record))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)

    def run_path(self, key: str) -> Path:
        return self.runs / f"{key}.run"

    @property
    def scratch(self) -> Path:
        return self.path / "merge"
