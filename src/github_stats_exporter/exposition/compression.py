"""Gzip of a page held as a list of pieces, without joining the pieces into one bytes object first.

`gzip_pieces` writes the same bytes as ``gzip.compress(b"".join(pieces), level, mtime=0)`` (which is
zlib's gzip wrapper, and zlib's output does not depend on how its input is split), so a page kept as
pieces compresses to what the joined page would. This module must not know what the pieces contain.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

_GZIP_WBITS = 16 + zlib.MAX_WBITS
"""zlib writes the gzip header (mtime 0) and trailer itself."""


def gzip_pieces(pieces: Iterable[bytes | memoryview], level: int) -> bytes:
    """One gzip member (mtime 0) holding the concatenation of ``pieces``."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
    out = [deflate.compress(piece) for piece in pieces]
    out.append(deflate.flush())
    return b"".join(out)
