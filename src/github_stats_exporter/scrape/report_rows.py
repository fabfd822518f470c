"""Streaming decoder of report files into a row type (NDJSON, or a JSON array), chunk by chunk.

`RowParser` is the one framing engine for Copilot report files: `copilot_parse.ReportParser` uses it
for usage records, the per-day readers (team membership, repositories) for their own msgspec Structs.
Unknown keys are skipped; a line that does not decode is counted in ``dropped`` and skipped, never
raised; ``truncated`` is set when the body ended inside a row. No I/O, no metrics here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")
_WHITESPACE = b" \t\r\n\x0b\x0c"


class RowParser(Generic[T]):
    """Incremental: ``feed`` chunks as they arrive, then ``finish``; both return decoded rows.

    ``records`` counts decoded top-level rows, ``dropped`` lines (or array elements) that did not
    decode, ``truncated`` is set when the body ended inside a row (a cut download).
    """

    def __init__(self, row_type: type[T]) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(row_type)
        self._pending = b""
        self._mode: str | None = None  # None until the first non-blank byte: "lines" or "array"
        self._array_parts: list[bytes] = []
        self.records = 0
        self.dropped = 0
        self.truncated = False

    @property
    def buffered(self) -> int:
        """Bytes held for the unfinished last line (NDJSON mode): the parser's memory between chunks."""
        return len(self._pending)

    def feed(self, chunk: bytes) -> list[T]:
        """Rows completed by ``chunk`` (a list: at most one chunk's worth is held at a time)."""
        if not chunk:
            return []
        if self._mode is None:
            head = (self._pending + chunk).lstrip(_WHITESPACE)
            if not head:
                self._pending = b""
                return []
            self._mode = "array" if head[:1] == b"[" else "lines"
        if self._mode == "array":
            self._array_parts.append(chunk)
            return []
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self._pending += chunk
            return []
        # The chunk's whole lines are decoded in place through a memoryview: joining the held partial
        # line to a 256 KiB chunk and slicing off its tail copied every chunk twice, which cost as much
        # as decoding the rows of a report without breakdowns (docs/benchmarks.md, "Copilot report
        # parsing"). Only the one line that straddles two chunks is joined.
        start = 0
        rows: list[T] = []
        if self._pending:
            start = chunk.find(b"\n") + 1
            rows = self._lines(self._pending + chunk[: start - 1])
        self._pending = chunk[cut + 1 :]
        if start < cut:
            rows += self._lines(memoryview(chunk)[start:cut])
        return rows

    def finish(self) -> Iterator[T]:
        """Rows left at the end of the body (a last line without newline, or the whole array)."""
        if self._mode == "array":
            yield from self._array(b"".join(self._array_parts))
            self._array_parts = []
            return
        tail, self._pending = self._pending, b""
        if not tail.strip(_WHITESPACE):
            return
        try:
            row = self._decoder.decode(tail)
        except msgspec.DecodeError:
            # A last line without its newline that does not decode is a cut-off download.
            self.dropped += 1
            self.truncated = True
            return
        self.records += 1
        yield row

    def _lines(self, block: bytes | memoryview) -> list[T]:
        try:
            # One C-level call for the whole block; blank lines are skipped by msgspec itself.
            out = self._decoder.decode_lines(block)
        except msgspec.DecodeError:
            return self._lines_one_by_one(block)  # a bad line somewhere: find and count it
        self.records += len(out)
        return out

    def _lines_one_by_one(self, block: bytes | memoryview) -> list[T]:
        decode = self._decoder.decode
        out: list[T] = []
        append = out.append
        for line in bytes(block).split(b"\n"):
            if not line or line.isspace():
                continue
            try:
                append(decode(line))
            except msgspec.DecodeError:
                self.dropped += 1
        self.records += len(out)
        return out

    def _array(self, body: bytes) -> Iterator[T]:
        try:
            elements = msgspec.json.decode(body, type=list[msgspec.Raw])
        except msgspec.DecodeError:
            self.dropped += 1
            self.truncated = True
            return
        for element in elements:
            try:
                row = self._decoder.decode(element)
            except msgspec.DecodeError:
                self.dropped += 1
                continue
            self.records += 1
            yield row
