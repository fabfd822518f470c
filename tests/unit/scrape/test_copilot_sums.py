"""The C loop of the breakdown sums (`copilot_sums.BLOCK`): the same series as the Python layout, and bad
input refused without touching the sums."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from github_stats_exporter.scrape import copilot_sums
from github_stats_exporter.scrape.copilot_map import MapOptions, ReportLabels, ReportMapper
from github_stats_exporter.scrape.copilot_parse import COUNTER_FIELDS, FeatureBreakdown, parse_body
from github_stats_exporter.scrape.copilot_sums import NEAR, Layout
from github_stats_exporter.simulator.copilot_data import CopilotDataset

BLOCK = copilot_sums.BLOCK
needs_block = pytest.mark.skipif(BLOCK is None, reason="_copilot_sums is not built (no C compiler)")
END_DAY = date(2026, 5, 26)
ALL = MapOptions(breakdowns=frozenset({"ide", "feature", "language", "model"}))


def report(users: int) -> bytes:
    """A users-28-day report of the simulator's dataset, every breakdown array in it."""
    members = [f"user{i:03d}" for i in range(users)]
    dataset = CopilotDataset(5, {"acme": members}, None, date(2026, 1, 1))
    rows = dataset.iter_report_rows("org", "acme", "users", "28d", END_DAY)
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def series(body: bytes, layout: Layout) -> dict[str, list[Any]]:
    records, parser = parse_body(body, users=True)
    assert parser.dropped == 0
    mapper = ReportMapper(
        ReportLabels("acme", "users"), ALL, {"28d": None, "1d": END_DAY.isoformat()}, layout
    )
    mapper.add_all(records)
    return {window: mapper.samples(window) for window in ("28d", "1d")}


def test_a_mapper_without_a_layout_sums_in_the_c_loops_blocks_when_it_is_built() -> None:
    records, _ = parse_body(report(2), users=True)
    mapper = ReportMapper(ReportLabels("acme", "users"), ALL, {"28d": None})
    mapper.add_all(records)
    entries = list(mapper._windows["28d"].entries.values())
    assert entries
    held = {type(entry[NEAR]) for entry in entries if len(entry) > NEAR}
    if BLOCK is not None:
        assert held == {bytearray}
    else:
        assert held
        assert bytearray not in held


@needs_block
def test_both_layouts_give_the_same_series_for_a_whole_report() -> None:
    body = report(40)
    python = series(body, copilot_sums.PYTHON)
    assert BLOCK is not None
    block = series(body, BLOCK)
    assert len(python["28d"]) > 4_000
    assert [s for s in python["28d"] if dict(s.labels).keys() & {"ide", "chat_mode"}]
    assert block == python


def element(value: str | None, counters: dict[str, Any]) -> FeatureBreakdown:
    return FeatureBreakdown(value=value, **{name: counters.get(name) for name in COUNTER_FIELDS})


def sums_after(elements: list[Any], entry: list[Any] | None = None) -> tuple[Any, ...]:
    """The sums of value "a" after the C loop added ``elements`` (numbers: "a" is the first value)."""
    from github_stats_exporter.scrape import _copilot_sums  # only when built

    entry = entry if entry is not None else [None] * NEAR
    _copilot_sums.sum_elements(entry, elements, {"a": NEAR}, lambda _value: None)
    assert BLOCK is not None
    return BLOCK.read(entry, NEAR) or ()


@needs_block
def test_a_counter_none_on_one_side_takes_the_others_value_and_an_unnumbered_value_is_skipped() -> None:
    got = sums_after(
        [
            element("a", {"loc_added_sum": 2, "code_generation_activity_count": None}),
            element("a", {"loc_added_sum": 3.5, "code_generation_activity_count": 4}),
            element("new", {"loc_added_sum": 100}),  # numbering says None: never summed
            element(None, {"loc_added_sum": 100}),
        ]
    )
    assert got == (None, 4.0, None, None, None, 5.5, None)


@needs_block
def test_bad_input_is_refused_and_leaves_the_sums_as_they_were() -> None:
    from github_stats_exporter.scrape import _copilot_sums

    entry: list[Any] = [None] * NEAR
    assert sums_after([element("a", {"loc_added_sum": 1})], entry) == (None,) * 5 + (1.0, None)
    with pytest.raises(TypeError, match="not a number"):
        sums_after([element("a", {"loc_added_sum": 1, "loc_deleted_sum": "9"})], entry)
    with pytest.raises(TypeError, match="not a Breakdown"):
        sums_after([{"feature": "a"}], entry)
    assert sums_after([], entry) == (None,) * 5 + (1.0, None)
    with pytest.raises(TypeError, match="sum_elements"):
        _copilot_sums.sum_elements(tuple(entry), [], {}, lambda _value: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a block"):
        sums_after([element("a", {"loc_added_sum": 1})], [None] * NEAR + [None])
    with pytest.raises(ValueError, match="items"):
        sums_after([element("a", {"loc_added_sum": 1})], [None] * (NEAR - 1))


@needs_block
def test_configure_refuses_fields_that_are_not_slots_and_keeps_the_configuration() -> None:
    from github_stats_exporter.scrape import _copilot_sums

    with pytest.raises(AttributeError):
        _copilot_sums.configure(FeatureBreakdown, ("value", *COUNTER_FIELDS[:-1], "nope"), NEAR, 8, print)
    with pytest.raises(TypeError, match="not an object slot"):
        _copilot_sums.configure(FeatureBreakdown, ("feature", *COUNTER_FIELDS), NEAR, 8, print)
    with pytest.raises(ValueError, match="configure"):
        _copilot_sums.configure(FeatureBreakdown, ("value",), NEAR, 8, print)
    assert sums_after([element("a", {"loc_added_sum": 1})]) == (None,) * 5 + (1.0, None)
