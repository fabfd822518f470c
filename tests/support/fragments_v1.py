"""Fragments as the previous writer stored them (layout GSEF1: no scope, no uniqueness flag), for tests.

Upgraded readers must keep reading what a writer of the previous release stored. This reproduces that
layout from the documented format (docs/benchmarks.md, "Replica cold start"); it must not be used by
the exporter.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from github_stats_exporter.exposition import encode_samples
from github_stats_exporter.model import Sample


def pack_snapshot_v1(samples: Iterable[Sample]) -> bytes:
    """What `pack_snapshot` of the previous release wrote for ``samples``."""
    encoded = encode_samples(samples)
    families = [(name, encoded.counts[name], len(data)) for name, data in encoded.fragments.items()]
    header = msgspec.msgpack.encode((encoded.skipped, len(encoded.hashes), families))
    return b"".join(
        (
            b"GSEF1\n",
            len(header).to_bytes(4, "little"),
            header,
            encoded.hashes.tobytes(),
            *encoded.fragments.values(),
        )
    )
