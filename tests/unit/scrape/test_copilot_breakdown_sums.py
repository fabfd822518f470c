"""Breakdown sums of a users report equal a plain per-(user, dimension, value) sum, whatever the elements carry.

Every test runs with each layout of the sums built here (`copilot_sums`: the pure-Python one, and the C
loop's block when it is built), and the layouts give the same series for a whole generated report.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from github_stats_exporter.scrape import copilot_sums
from github_stats_exporter.scrape.copilot_map import (
    DIMENSIONS,
    Dimension,
    MapOptions,
    ReportLabels,
    ReportMapper,
)
from github_stats_exporter.scrape.copilot_parse import parse_body
from github_stats_exporter.scrape.copilot_sums import DENSE_VALUES, Layout

LAYOUTS = [layout for layout in (copilot_sums.PYTHON, copilot_sums.BLOCK) if layout is not None]

COUNTERS = (
    "user_initiated_interaction_count",
    "code_generation_activity_count",
    "code_acceptance_activity_count",
    "loc_suggested_to_add_sum",
    "loc_suggested_to_delete_sum",
    "loc_added_sum",
    "loc_deleted_sum",
)
ARRAYS = {
    "ide": "totals_by_ide",
    "feature": "totals_by_feature",
    "language": "totals_by_language_feature",
    "model": "totals_by_model_feature",
}
# A counter is absent, null, a count or (the schema allows it) a fraction.
COUNT = st.one_of(st.none(), st.integers(0, 10**12), st.floats(0, 1e6, allow_nan=False))
ELEMENT = st.tuples(
    st.sampled_from(["a", "b", "chat_panel_ask_mode"]),
    st.dictionaries(st.sampled_from(COUNTERS), COUNT, max_size=len(COUNTERS)),
)
ROW = st.tuples(
    st.sampled_from(["alice", "bob"]),
    st.sampled_from(["2026-05-01", "2026-05-02", "2026-05-03"]),
    st.dictionaries(st.sampled_from(sorted(ARRAYS)), st.lists(ELEMENT, max_size=4), max_size=len(ARRAYS)),
)
Key = tuple[str, str, str, str]
Row = tuple[str, str, dict[str, list[tuple[str, dict[str, Any]]]]]


def expected(rows: list[Row]) -> dict[Key, float]:
    """The reference: per (user, dimension, value, counter), the sum of the values present; none, no series."""
    sums: dict[Key, Any] = {}
    for user, _, arrays in rows:
        for dimension, elements in arrays.items():
            for value, counters in elements:
                for name, count in counters.items():
                    if count is None:
                        continue
                    key = (user, dimension, value, name)
                    sums[key] = count if sums.get(key) is None else sums[key] + count
    return {key: float(total) for key, total in sums.items()}


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
@settings(max_examples=200, deadline=None)
@given(rows=st.lists(ROW, max_size=12), enabled=st.sets(st.sampled_from(DIMENSIONS), min_size=1))
def test_breakdown_sums_equal_the_plain_sums_of_the_elements(
    layout: Layout, rows: list[Row], enabled: set[Dimension]
) -> None:
    """Every enabled breakdown series holds the plain sum of its elements' counters (None skipped), and only those exist."""
    body = b"".join(
        json.dumps(
            {
                "user_login": user,
                "day": day,
                **{
                    ARRAYS[dimension]: [{dimension: value, **counters} for value, counters in elements]
                    for dimension, elements in arrays.items()
                },
            }
        ).encode()
        + b"\n"
        for user, day, arrays in rows
    )
    records, parser = parse_body(body, users=True, chunk_size=97)
    assert parser.dropped == 0
    mapper = ReportMapper(
        ReportLabels("acme", "users"), MapOptions(breakdowns=frozenset(enabled)), {"28d": None}, layout
    )
    mapper.add_all(records)
    got: dict[Key, float] = {}
    for sample in mapper.samples("28d"):
        labels = dict(sample.labels)
        dimensions = set(labels) & set(ARRAYS)
        if dimensions:
            (dimension,) = dimensions
            name = sample.name.removeprefix("gh_copilot_usage_")
            got[labels["user"], dimension, labels[dimension], name] = sample.value
    on: set[str] = set(enabled)
    kept: list[Row] = [
        (user, day, {d: e for d, e in arrays.items() if d in on}) for user, day, arrays in rows
    ]
    assert got == expected(kept)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_breakdown_sums_hold_past_the_values_kept_in_each_entrys_list(layout: Layout) -> None:
    """A report with more distinct breakdown values than `DENSE_VALUES` still sums every value per user."""
    values = [f"lang{n}" for n in range(DENSE_VALUES + 40)]
    rows = [
        (
            user,
            day,
            {"language": [(value, {"loc_added_sum": 1 + n % 5, "code_generation_activity_count": None})]},
        )
        for day in ("2026-05-01", "2026-05-02")
        for n, value in enumerate(values)
        for user in ("alice", "bob")
        if user == "alice" or n % 3 == 0
    ]
    body = b"".join(
        json.dumps(
            {
                "user_login": user,
                "day": day,
                **{
                    ARRAYS[dimension]: [{dimension: v, **c} for v, c in els]
                    for dimension, els in arrays.items()
                },
            }
        ).encode()
        + b"\n"
        for user, day, arrays in rows
    )
    records, _ = parse_body(body, users=True)
    mapper = ReportMapper(
        ReportLabels("acme", "users"), MapOptions(breakdowns=frozenset({"language"})), {"28d": None}, layout
    )
    mapper.add_all(records)
    got = {
        (
            dict(s.labels)["user"],
            "language",
            dict(s.labels)["language"],
            s.name.removeprefix("gh_copilot_usage_"),
        ): s.value
        for s in mapper.samples("28d")
        if "language" in dict(s.labels)
    }
    assert got == expected(rows)
    assert len(got) == len(values) + len(values[::3])
