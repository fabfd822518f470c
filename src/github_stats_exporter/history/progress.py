"""Progress of a history run: bars on a terminal (tqdm), one log line per finished day otherwise.

The runner reports phases (``copilot``: days x reports, ``loc``: repositories, ``write``: samples),
steps with the bytes downloaded, and finished days. It must not decide anything about the work.
"""

from __future__ import annotations

from typing import IO, Any, Protocol

import structlog
from tqdm import tqdm

log = structlog.get_logger(__name__)


class Progress(Protocol):
    """Where the runner reports how far it is."""

    def start(self, phase: str, total: int, unit: str) -> None:
        """A phase of ``total`` steps begins (steps already done on an earlier run count as done)."""

    def step(self, count: int = 1, downloaded: int = 0) -> None:
        """``count`` steps finished, having downloaded ``downloaded`` bytes."""

    def day(self, day: str, **fields: Any) -> None:
        """A day of every report finished (its outcome counts in ``fields``)."""

    def end(self) -> None:
        """The current phase is over."""


class LogProgress:
    """Without a terminal: a log line per finished day and per phase, nothing per step."""

    def __init__(self) -> None:
        self._phase = ""
        self._done = 0
        self._total = 0
        self._bytes = 0

    def start(self, phase: str, total: int, unit: str) -> None:
        self._phase, self._total, self._done, self._bytes = phase, total, 0, 0
        log.info("history_phase", phase=phase, total=total, unit=unit)

    def step(self, count: int = 1, downloaded: int = 0) -> None:
        self._done += count
        self._bytes += downloaded

    def day(self, day: str, **fields: Any) -> None:
        log.info("history_day", day=day, done=self._done, total=self._total, downloaded=self._bytes, **fields)

    def end(self) -> None:
        log.info("history_phase_done", phase=self._phase, done=self._done, downloaded=self._bytes)


class BarProgress:
    """On a terminal: one bar per phase with the rate, the ETA and the bytes downloaded."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._bar: tqdm[Any] | None = None
        self._bytes = 0

    def start(self, phase: str, total: int, unit: str) -> None:
        self.end()
        self._bytes = 0
        self._bar = tqdm(total=total, desc=phase, unit=unit, file=self._stream, dynamic_ncols=True)

    def step(self, count: int = 1, downloaded: int = 0) -> None:
        if self._bar is None:
            return
        self._bytes += downloaded
        if downloaded:
            self._bar.set_postfix_str(f"{self._bytes / 1e6:.1f} MB", refresh=False)
        self._bar.update(count)

    def day(self, day: str, **fields: Any) -> None:
        if self._bar is not None:
            self._bar.set_description_str(f"copilot {day}", refresh=False)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress_for(stream: IO[str]) -> Progress:
    """Bars when ``stream`` is a terminal, log lines otherwise."""
    return BarProgress(stream) if stream.isatty() else LogProgress()
