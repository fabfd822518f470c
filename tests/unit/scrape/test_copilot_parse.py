"""Streaming Copilot report parsing: chunk boundaries, tolerance, drop counting, JSON-array bodies."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from github_stats_exporter.scrape.copilot_parse import (
    COUNTER_FIELDS,
    Breakdown,
    Record,
    ReportParser,
    SlimRecord,
    SlimUserRecord,
    UserRecord,
    parse_body,
)

USER_ROW = {
    "user_id": 7,
    "user_login": "alice",
    "day": "2026-05-01",
    "code_generation_activity_count": 3,
    "loc_added_sum": 8,
    "totals_by_ide": [{"ide": "vscode", "loc_added_sum": 8, "last_known_ide_version": {"ide_version": "1"}}],
    "some_future_field": {"nested": [1, 2, 3]},
    "used_chat": True,
}
AGGREGATE = {
    "report_start_day": "2026-04-04",
    "report_end_day": "2026-05-01",
    "day_totals": [{"day": "2026-05-01", "daily_active_users": 4, "pull_requests": {"total_created": 2}}],
}


def ndjson(*rows: object) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def test_unknown_fields_are_ignored_and_missing_fields_are_none() -> None:
    """A row with extra keys decodes; keys it lacks are None rather than errors."""
    records, parser = parse_body(ndjson(USER_ROW, {"user_login": "bob"}))
    assert parser.dropped == 0
    first, second = records
    assert isinstance(first, Record)
    assert (first.user_login, first.code_generation_activity_count, first.loc_added_sum) == ("alice", 3, 8)
    assert first.totals_by_ide is not None
    assert first.totals_by_ide[0].ide == "vscode"
    assert second.user_id is None
    assert second.code_generation_activity_count is None


def test_users_rows_decode_without_the_aggregate_only_scalars() -> None:
    """users=True decodes into UserRecord: aggregate-only scalars are skipped, the per-user 2026 fields kept."""
    row = {**USER_ROW, "daily_active_users": 9, "ai_credits_used": 2.5, "distinct_mcp_use_count": 3}
    (record,), parser = parse_body(ndjson(row), users=True)
    assert isinstance(record, UserRecord)
    assert not hasattr(record, "daily_active_users")
    assert record.ai_credits_used == 2.5
    (slim,), _ = parse_body(ndjson(row), users=True, breakdowns=False)
    assert isinstance(slim, SlimUserRecord)
    assert parser.dropped == 0


def test_breakdown_elements_decode_every_counter_whatever_the_key_order() -> None:
    """Every element type reads its dimension and all seven counters, in GitHub's key order or any other."""
    counters = {name: index + 1 for index, name in enumerate(COUNTER_FIELDS)}
    row = {
        **USER_ROW,
        "totals_by_ide": [{"ide": "vscode", **counters}],
        "totals_by_feature": [{**counters, "feature": "chat_inline"}],
        "totals_by_language_feature": [
            {"feature": "x", "language": "go", **dict(reversed(counters.items()))}
        ],
        "totals_by_model_feature": [{"model": "m", "feature": "x", **counters}],
    }
    (record,), parser = parse_body(ndjson(row), users=True)
    assert parser.dropped == 0
    assert isinstance(record, UserRecord)
    arrays = (
        record.totals_by_ide,
        record.totals_by_feature,
        record.totals_by_language_feature,
        record.totals_by_model_feature,
    )
    elements: list[Breakdown] = [array[0] for array in arrays if array]
    assert [element.value for element in elements] == ["vscode", "chat_inline", "go", "m"]
    for element in elements:
        assert tuple(getattr(element, name) for name in COUNTER_FIELDS) == tuple(counters.values())


def test_aggregate_wrapper_keeps_its_day_totals() -> None:
    """The 28-day aggregate wrapper decodes with its nested day records and pull_requests object."""
    (record,), _ = parse_body(ndjson(AGGREGATE))
    assert record.report_end_day == "2026-05-01"
    assert record.day_totals is not None
    day = record.day_totals[0]
    assert isinstance(day, Record)
    assert day.daily_active_users == 4
    assert day.pull_requests is not None
    assert day.pull_requests.total_created == 2


def test_without_breakdowns_the_arrays_are_not_decoded() -> None:
    """breakdowns=False decodes into SlimRecord, which has no totals_by_* arrays at all."""
    (record,), _ = parse_body(ndjson(USER_ROW), breakdowns=False)
    assert isinstance(record, SlimRecord)
    assert not hasattr(record, "totals_by_ide")
    assert record.loc_added_sum == 8


@pytest.mark.parametrize(
    ("line", "why"),
    [
        pytest.param(b"not json at all", "not JSON", id="garbage"),
        pytest.param(b'{"user_login": "broken", "day": ', "cut object", id="cut"),
        pytest.param(b'{"loc_added_sum": "8"}', "number as text", id="wrong-type"),
        pytest.param(b'{"loc_added_sum": true}', "bool is not a count", id="bool-count"),
        pytest.param(b"[1, 2]", "not an object", id="array-line"),
        pytest.param(b'"text"', "not an object", id="string-line"),
        pytest.param(b'{"totals_by_ide": {"ide": "x"}}', "object where an array belongs", id="bad-array"),
    ],
)
def test_malformed_lines_are_counted_and_skipped(line: bytes, why: str) -> None:
    """A bad line between two good ones is dropped and counted; the good ones survive."""
    body = ndjson(USER_ROW) + line + b"\n" + ndjson(USER_ROW)
    records, parser = parse_body(body)
    assert len(records) == 2, why
    assert (parser.records, parser.dropped, parser.truncated) == (2, 1, False)


def test_a_cut_last_line_marks_the_body_truncated() -> None:
    """A body ending inside a record (no newline, undecodable) is flagged as truncated."""
    body = ndjson(USER_ROW, USER_ROW)
    records, parser = parse_body(body[: len(body) - 20])
    assert len(records) == 1
    assert parser.truncated
    assert parser.dropped == 1


def test_a_complete_last_line_without_newline_is_fine() -> None:
    """The final record may lack its newline."""
    records, parser = parse_body(ndjson(USER_ROW).rstrip(b"\n"))
    assert len(records) == 1
    assert not parser.truncated


def test_blank_lines_and_crlf_are_ignored() -> None:
    """Empty lines, whitespace-only lines and CRLF endings are not records and not drops."""
    body = b"\r\n" + json.dumps(USER_ROW).encode() + b"\r\n  \n\n"
    records, parser = parse_body(body)
    assert len(records) == 1
    assert parser.dropped == 0


@pytest.mark.parametrize(
    ("body", "records", "dropped", "truncated"),
    [
        pytest.param(json.dumps([USER_ROW, USER_ROW]).encode(), 2, 0, False, id="array"),
        pytest.param(b"  \n" + json.dumps([USER_ROW], indent=2).encode(), 1, 0, False, id="pretty-array"),
        pytest.param(json.dumps([USER_ROW, 5, "x"]).encode(), 1, 2, False, id="bad-elements"),
        pytest.param(json.dumps([USER_ROW]).encode()[:-10], 0, 1, True, id="cut-array"),
        pytest.param(b"[]", 0, 0, False, id="empty-array"),
        pytest.param(b"", 0, 0, False, id="empty-body"),
    ],
)
def test_json_array_bodies_are_accepted(body: bytes, records: int, dropped: int, truncated: bool) -> None:
    """A JSON array (the docs' display form) parses element by element with the same tolerance."""
    parsed, parser = parse_body(body, chunk_size=7)
    assert (len(parsed), parser.records, parser.dropped, parser.truncated) == (
        records,
        records,
        dropped,
        truncated,
    )


ROWS = st.lists(
    st.fixed_dictionaries(
        {"user_login": st.text(min_size=1, max_size=8), "loc_added_sum": st.integers(0, 10**9)},
        optional={"day": st.dates().map(str), "junk": st.text(max_size=20)},
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(rows=ROWS, chunk_size=st.integers(1, 64))
def test_chunk_boundaries_never_change_the_result(rows: list[dict[str, object]], chunk_size: int) -> None:
    """Whatever the chunk size, the records equal those of parsing the whole body at once."""
    body = ndjson(*rows)
    whole, _ = parse_body(body, chunk_size=len(body) + 1)
    chunked, parser = parse_body(body, chunk_size=chunk_size)
    assert chunked == whole
    assert [r.user_login for r in chunked] == [row["user_login"] for row in rows]
    assert parser.dropped == 0


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=40).filter(lambda b: b"\n" not in b),
            st.just(json.dumps(USER_ROW).encode()),
        ),
        max_size=15,
    ),
    chunk_size=st.integers(1, 50),
)
def test_arbitrary_bytes_never_raise_and_every_line_is_accounted_for(
    lines: list[bytes], chunk_size: int
) -> None:
    """Random garbage lines never raise; each non-blank line is either a record or a drop."""
    body = b"\n".join(lines) + b"\n"
    if body.lstrip()[:1] == b"[":
        return  # array mode is covered by its own table
    records, parser = parse_body(body, chunk_size=chunk_size)
    non_blank = [line for line in lines if line.strip()]
    assert parser.records == len(records)
    assert parser.records + parser.dropped == len(non_blank)
    assert not parser.truncated


def test_feed_keeps_memory_to_one_partial_line() -> None:
    """Between chunks the parser holds at most the unfinished line, not the body."""
    parser = ReportParser()
    line = json.dumps(USER_ROW).encode() + b"\n"
    for _ in range(1000):
        list(parser.feed(line))
    list(parser.feed(line[:10]))
    assert parser.records == 1000
    assert parser.buffered == 10
