"""Exposition of snapshots as OpenMetrics 1.0 / Prometheus text 0.0.4, and the pre-rendered page cache.

`negotiation` picks the format and encoding, `encoder` turns samples into bytes, `cache` keeps the page
up to date with the store. This package must not know about HTTP; `server.py` does.
"""

from __future__ import annotations

from github_stats_exporter.exposition.cache import GZIP_LEVEL, CacheNotReady, ExpositionCache
from github_stats_exporter.exposition.encoder import (
    EOF,
    EncodedSnapshot,
    FragmentsError,
    encode_samples,
    family_header,
    pack_fragments,
    pack_snapshot,
    render,
    unpack_fragments,
)
from github_stats_exporter.exposition.negotiation import Format, accepts_gzip, negotiate

__all__ = [
    "EOF",
    "GZIP_LEVEL",
    "CacheNotReady",
    "EncodedSnapshot",
    "ExpositionCache",
    "Format",
    "FragmentsError",
    "accepts_gzip",
    "encode_samples",
    "family_header",
    "negotiate",
    "pack_fragments",
    "pack_snapshot",
    "render",
    "unpack_fragments",
]
