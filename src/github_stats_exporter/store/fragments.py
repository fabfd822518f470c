"""Runs a store's `FragmentEncoder` for a snapshot being written, in a worker thread when it is large.

Both adapters call `encode_fragments` before their write, so a snapshot and its fragments are stored
together. This module must not know what the fragments contain (the encoder is injected).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from github_stats_exporter.model import Sample
from github_stats_exporter.store.base import FragmentEncoder

OFFLOAD_SAMPLES = 20_000
"""Snapshots with this many samples are encoded in a worker thread so the event loop keeps serving."""


async def encode_fragments(encoder: FragmentEncoder | None, samples: Sequence[Sample]) -> bytes | None:
    """The fragments to store with ``samples``, or None for a store built without an encoder."""
    if encoder is None:
        return None
    if len(samples) >= OFFLOAD_SAMPLES:
        return await asyncio.to_thread(encoder, samples)
    return encoder(samples)
