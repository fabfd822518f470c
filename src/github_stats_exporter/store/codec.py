"""The one serializer of stored state: checkpoint records to bytes and back (msgspec JSON).

Every record a caller keeps in a `CheckpointStore` (activity ledgers, LOC state and commit caches,
Copilot checkpoints, sealed counter totals, backfill markers) is a typed value (a msgspec Struct, a
dataclass, a dict or a list) encoded here exactly once; nested values are encoded as part of the
record, never as JSON text inside JSON. The store keeps the bytes and never looks inside them.

JSON rather than msgpack: records are small next to snapshots, stay readable with ``redis-cli``, and
the records written before this module existed (flat JSON objects of strings) still decode: reads
are lenient (``strict=False``), so a number or flag stored as a string is accepted.

This module does no I/O and must not import a store adapter.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_decoders: dict[object, msgspec.json.Decoder[Any]] = {}
"""One decoder per record type, built on first use (building one costs more than a small decode)."""


class RecordError(ValueError):
    """Stored bytes do not decode into the expected record (corrupt, or another version's shape)."""


def encode(record: object) -> bytes:
    """The stored form of ``record``."""
    return _encoder.encode(record)


def _decoder(kind: object) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind, strict=False)
    return decoder


def decode(data: bytes | str, kind: type[T]) -> T:
    """Read a record written by `encode` (or by an earlier version); raises `RecordError` when it cannot."""
    try:
        value: T = _decoder(kind).decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        msg = f"stored record is not a {getattr(kind, '__name__', kind)}: {exc}"
        raise RecordError(msg) from exc
    return value
