"""RowParser: report files decoded into a caller's row type, chunk by chunk, bad lines counted not raised."""

from __future__ import annotations

import msgspec
import pytest

from github_stats_exporter.scrape.report_rows import RowParser


class Row(msgspec.Struct, kw_only=True):
    user_id: int | None = None
    slug: str | None = None


def parse(body: bytes, chunk: int) -> tuple[list[Row], RowParser[Row]]:
    parser = RowParser(Row)
    rows: list[Row] = []
    for start in range(0, len(body), chunk):
        rows += parser.feed(body[start : start + chunk])
    rows += parser.finish()
    return rows, parser


NDJSON = (
    b'{"user_id": 1, "slug": "web", "new_field": [1]}\n\n{"user_id": 2}\n{"user_id": "x"}\n{"slug": "ops"}'
)


@pytest.mark.parametrize(
    "chunk", [pytest.param(1, id="byte-by-byte"), pytest.param(7, id="7"), pytest.param(1 << 16, id="whole")]
)
def test_ndjson_rows_decode_whatever_the_chunking(chunk: int) -> None:
    """Rows split across chunks decode; unknown fields are ignored; a mistyped row is dropped and counted."""
    rows, parser = parse(NDJSON, chunk)
    assert rows == [Row(user_id=1, slug="web"), Row(user_id=2), Row(slug="ops")]
    assert (parser.records, parser.dropped, parser.truncated) == (3, 1, False)


def test_a_json_array_body_is_read_too() -> None:
    """The documentation's array form: each element is a row; a bad element is dropped."""
    rows, parser = parse(b' [{"user_id": 1}, {"user_id": []}, {"slug": "a"}]', 5)
    assert rows == [Row(user_id=1), Row(slug="a")]
    assert (parser.dropped, parser.truncated) == (1, False)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"user_id": 1}\n{"user_id": 2, "sl', id="ndjson"),
        pytest.param(b'[{"user_id": 1}, {"us', id="array"),
    ],
)
def test_a_body_cut_inside_a_row_is_truncated(body: bytes) -> None:
    """A file that ends inside a row is flagged, so the caller downloads it again."""
    _, parser = parse(body, 4)
    assert parser.truncated


def test_a_line_straddling_two_chunks_decodes_before_the_whole_lines_of_the_second() -> None:
    """The line joined across a chunk boundary and the chunk's own lines come out in file order, each bad one counted."""
    parser = RowParser(Row)
    rows = parser.feed(b'{"user_id": 1}\n{"user_id": ')
    rows += parser.feed(b'2}\n{"user_id": 3}\n{"user_id": [}\n{"slug": "a"}\n{"sl')
    rows += parser.feed(b'ug": []}\n{"user_id": 4}\n')
    rows += parser.finish()
    assert [(row.user_id, row.slug) for row in rows] == [
        (1, None),
        (2, None),
        (3, None),
        (None, "a"),
        (4, None),
    ]
    assert (parser.records, parser.dropped, parser.buffered, parser.truncated) == (5, 2, 0, False)
