"""Progress of a history run: bars with rate and downloaded bytes on a terminal, a log line per day otherwise."""

from __future__ import annotations

import io

from structlog.testing import capture_logs

from github_stats_exporter.history.progress import BarProgress, LogProgress, progress_for


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_per_phase_with_bytes_and_eta() -> None:
    """On a terminal: a tqdm bar naming the phase, the steps done of the total and the megabytes downloaded."""
    stream = _Terminal()
    progress = progress_for(stream)
    assert isinstance(progress, BarProgress)
    progress.start("copilot", 4, "report-day")
    progress.step(1, downloaded=3_000_000)
    progress.step(1, downloaded=2_000_000)
    progress.day("2026-05-01")
    progress.end()
    text = stream.getvalue()
    assert "2/4" in text
    assert "5.0 MB" in text
    assert "report-day/s" in text or "s/report-day" in text


def test_without_a_terminal_each_finished_day_is_one_log_line() -> None:
    """Not a terminal: no bar; a history_day line per day with how far the phase is."""
    assert isinstance(progress_for(io.StringIO()), LogProgress)
    progress = LogProgress()
    with capture_logs() as logs:
        progress.start("copilot", 6, "report-day")
        for day in ("2026-05-01", "2026-05-02"):
            progress.step(3, downloaded=10)
            progress.day(day, ok=3, failed=0)
        progress.end()
    days = [entry for entry in logs if entry["event"] == "history_day"]
    assert [(d["day"], d["done"], d["total"]) for d in days] == [("2026-05-01", 3, 6), ("2026-05-02", 6, 6)]
    assert days[-1]["downloaded"] == 20
