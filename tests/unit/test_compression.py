"""Gzip of a page held as pieces: the same bytes as compressing the joined page."""

from __future__ import annotations

import gzip

import pytest

from github_stats_exporter.exposition.compression import gzip_pieces


@pytest.mark.parametrize(
    "pieces",
    [
        pytest.param([], id="empty"),
        pytest.param([b"# TYPE x gauge\n"], id="one"),
        pytest.param([b'x{a="1"} 1\n' * 5000, memoryview(b"y 2\n" * 3), b"", b"z 3\n"], id="mixed"),
    ],
)
@pytest.mark.parametrize("level", [1, 6, 9])
def test_gzip_of_pieces_equals_gzip_of_the_joined_bytes(pieces: list[bytes | memoryview], level: int) -> None:
    """Compressing the pieces one after another writes exactly what gzip.compress writes for their join."""
    joined = b"".join(pieces)
    compressed = gzip_pieces(pieces, level)
    assert compressed == gzip.compress(joined, level, mtime=0)
    assert gzip.decompress(compressed) == joined
