"""The bulk encoder path produces exactly the bytes of the careful per-sample path, or declines."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from github_stats_exporter import metrics as m
from github_stats_exporter.exposition.encoder import _encode_bulk, _encode_each, encode_samples
from github_stats_exporter.model import Sample

TRICKY = st.sampled_from(
    ["", ",", "[", "]", "],[", '","', '"', "\\", "\n", "\t", "é", "\u2028", "a b", "x=y"]
)
VALUES = st.one_of(st.sampled_from([0.0, -1.0, 1.5, math.nan, math.inf, 3]), st.floats(allow_nan=True))
FAMILIES = st.sampled_from([m.ACTIVITY_COMMITS, m.COPILOT_INTERACTIONS, m.HTTP_REQUESTS, m.GITHUB_RETRIES])


def build(spec: m.MetricSpec, parts: list[str], value: float) -> Sample:
    labels = {name: "".join(parts[i : i + 2]) for i, name in enumerate(spec.labels)}
    return Sample(spec.name, tuple(labels.items()), value)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(FAMILIES, st.lists(st.one_of(TRICKY, st.text(max_size=4)), min_size=4, max_size=4), VALUES),
        min_size=1,
        max_size=30,
    )
)
def test_bulk_path_matches_the_careful_path(rows: list[tuple[m.MetricSpec, list[str], float]]) -> None:
    """Whenever the bulk path accepts a snapshot, fragments, counts and series hashes equal the careful path's."""
    samples = [build(spec, parts, value) for spec, parts, value in rows]
    careful = _encode_each(samples, 3)
    bulk = _encode_bulk(samples, 3)
    if bulk is not None:
        assert bulk.fragments == careful.fragments
        assert bulk.counts == careful.counts
        assert sorted(bulk.hashes) == sorted(careful.hashes)
        assert bulk.version == 3
    assert encode_samples(samples, 3).fragments == careful.fragments


def test_plain_snapshots_take_the_bulk_path() -> None:
    """Ordinary label values (no escapes, brackets or commas) are encoded by the bulk path."""
    samples = [
        m.ACTIVITY_COMMITS.sample(i, {"org": "acme", "repo": f"r{i % 3}", "user": f"u{i}"})
        for i in range(100)
    ] + [m.HTTP_REQUESTS.sample(2, {"path": "/metrics", "code": "200"})]
    bulk = _encode_bulk(samples, 0)
    assert bulk is not None
    assert bulk.fragments == _encode_each(samples, 0).fragments


def test_snapshots_needing_escapes_decline_the_bulk_path() -> None:
    """A quote, a comma or an invalid counter value sends the snapshot to the careful path."""
    ok = {"org": "acme", "repo": "r", "user": "u"}
    assert _encode_bulk([m.ACTIVITY_COMMITS.sample(1, {**ok, "user": 'a"b'})], 0) is None
    assert _encode_bulk([m.ACTIVITY_COMMITS.sample(1, {**ok, "user": "a,b"})], 0) is None
    assert _encode_bulk([m.HTTP_REQUESTS.sample(-1, {"path": "/", "code": "200"})], 0) is None
