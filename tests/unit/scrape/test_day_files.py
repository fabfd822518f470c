"""DayFiles: one record per day in the checkpoint store, fetched once, pruned when the day leaves the window."""

from __future__ import annotations

import msgspec
import pytest

from github_stats_exporter.scrape.day_files import DayFiles
from github_stats_exporter.store.memory import MemorySnapshotStore


class Record(msgspec.Struct):
    values: dict[str, int] = msgspec.field(default_factory=dict)


def files(store: MemorySnapshotStore) -> DayFiles[Record]:
    return DayFiles(store, "copilot_days/org/acme/user_teams", Record)


async def test_a_day_is_fetched_once_and_read_back_afterwards() -> None:
    """The first call fetches and stores; later calls (also through a new DayFiles) read the store."""
    store = MemorySnapshotStore()
    calls: list[str] = []

    async def fetch(day: str) -> Record:
        calls.append(day)
        return Record({"a": len(calls)})

    first, fetched = await files(store).get_or_fetch("2026-05-20", fetch)
    again, fetched_again = await files(store).get_or_fetch("2026-05-20", fetch)
    assert (first, fetched) == (Record({"a": 1}), True)
    assert (again, fetched_again) == (Record({"a": 1}), False)
    assert calls == ["2026-05-20"]


async def test_an_empty_record_counts_as_stored() -> None:
    """A day with nothing (a 204) is stored too, so it is not asked for again."""
    store = MemorySnapshotStore()
    calls: list[str] = []

    async def fetch(day: str) -> Record:
        calls.append(day)
        return Record()

    await files(store).get_or_fetch("2026-05-20", fetch)
    await files(store).get_or_fetch("2026-05-20", fetch)
    assert calls == ["2026-05-20"]


async def test_an_unreadable_record_is_fetched_again() -> None:
    """Bytes that are not the record type read as absent, so the day is fetched and rewritten."""
    store = MemorySnapshotStore()
    day_files = files(store)
    await store.set_checkpoint(day_files.name("2026-05-20"), b"[1, 2")

    async def fetch(day: str) -> Record:
        return Record({"fresh": 1})

    assert await day_files.get("2026-05-20") is None
    assert await day_files.get_or_fetch("2026-05-20", fetch) == (Record({"fresh": 1}), True)
    assert await day_files.get("2026-05-20") == Record({"fresh": 1})


async def test_prune_deletes_only_days_before_the_oldest_kept() -> None:
    """Days that left the window go; the window's days and other prefixes stay."""
    store = MemorySnapshotStore()
    day_files = files(store)
    other = DayFiles(store, "copilot_days/org/acme/users", Record)
    for day in ("2026-04-28", "2026-04-29", "2026-04-30"):
        await day_files.put(day, Record())
        await other.put(day, Record())
    assert await day_files.prune("2026-04-29") == 1
    assert await day_files.days() == ["2026-04-29", "2026-04-30"]
    assert await other.days() == ["2026-04-28", "2026-04-29", "2026-04-30"]


@pytest.mark.parametrize("day", [pytest.param("2026-5-1", id="short"), pytest.param("x/../y", id="path")])
def test_a_malformed_day_never_becomes_a_name(day: str) -> None:
    """Only real YYYY-MM-DD days name a record."""
    with pytest.raises(ValueError):
        files(MemorySnapshotStore()).name(day)


def test_a_prefix_with_a_trailing_slash_is_refused() -> None:
    """The prefix must not end with a slash (names are <prefix>/<day>)."""
    with pytest.raises(ValueError, match="prefix"):
        DayFiles(MemorySnapshotStore(), "copilot_days/", Record)
