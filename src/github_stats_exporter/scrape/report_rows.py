"""Streaming decoder of report files into a caller's row type (NDJSON, or a JSON array), chunk by chunk.

`RowParser` is the small sibling of `copilot_parse.ReportParser` for reports whose rows are not usage
records (team membership, repositories): the caller names a msgspec Struct and gets decoded rows.
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
    """Incremental: ``feed`` chunks as they arrive, then ``finish``; both return decoded rows."""

    def __init__(self, row_type: type[T]) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(row_type)
        self._pending = b""
        self._array: list[bytes] | None = None
        self._started = False
        self.rows = 0
        self.dropped = 0
        self.truncated = False

    def feed(self, chunk: bytes) -> list[T]:
        """Rows completed by ``chunk``."""
        if not chunk:
            return []
        if not self._started:
            head = (self._pending + chunk).lstrip(_WHITESPACE)
            if not head:
                self._pending = b""
                return []
            self._started = True
            if head[:1] == b"[":
                self._array = []
        if self._array is not None:
            self._array.append(chunk)
            return []
        data = self._pending + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._pending = data
            return []
        self._pending = data[cut + 1 :]
        return [row for line in data[:cut].split(b"\n") if (row := self._line(line)) is not None]

    def finish(self) -> Iterator[T]:
        """Rows left at the end of the body (a last line without newline, or the whole array)."""
        if self._array is not None:
            body, self._array = b"".join(self._array), []
            try:
                elements = msgspec.json.decode(body, type=list[msgspec.Raw])
            except msgspec.DecodeError:
                self.dropped += 1
                self.truncated = True
                return
            for element in elements:
                row = self._line(bytes(element))
                if row is not None:
                    yield row
            return
        tail, self._pending = self._pending, b""
        if not tail.strip(_WHITESPACE):
            return
        try:
            row = self._decoder.decode(tail)
        except msgspec.DecodeError:
            self.dropped += 1
            self.truncated = True  # a last line without its newline that does not decode was cut off
            return
        self.rows += 1
        yield row

    def _line(self, line: bytes) -> T | None:
        if not line.strip(_WHITESPACE):
            return None
        try:
            row = self._decoder.decode(line)
        except msgspec.DecodeError:
            self.dropped += 1
            return None
        self.rows += 1
        return row
