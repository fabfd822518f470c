"""Stored fragments: a packed snapshot unpacks to exactly what the encoder produced, in any process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.fragments_v1 import pack_snapshot_v1

from github_stats_exporter import metrics as m
from github_stats_exporter.exposition import (
    FragmentsError,
    encode_samples,
    pack_fragments,
    pack_snapshot,
    unpack_fragments,
)
from github_stats_exporter.exposition.encoder import series_hash
from github_stats_exporter.model import Sample

SERIES = 'gh_activity_commits_24h{org="acme",repo="w",user="alice"}'


def samples() -> list[Sample]:
    rows = [m.ACTIVITY_COMMITS.sample(i, {"org": "acme", "repo": "w", "user": f"u{i}"}) for i in range(80)]
    rows += [
        m.ACTIVITY_LAST_EVENT.sample(1.5, {"org": "acme", "repo": "w", "user": 'we"ird\n'}),
        m.SCRAPE_RUNS.sample(-1, {"org": "acme", "result": "ok"}),  # invalid counter value: skipped
        Sample("not_a_family", (), 1.0),  # unknown family: skipped
    ]
    return rows


def test_pack_then_unpack_gives_the_encoders_output() -> None:
    """Fragments, counts, series hashes and the skipped count survive the round trip; the version is the store's."""
    encoded = encode_samples(samples())
    back = unpack_fragments(pack_fragments(encoded), 42)
    assert {name: bytes(data) for name, data in back.fragments.items()} == encoded.fragments
    assert back.counts == encoded.counts
    assert back.hashes == encoded.hashes
    assert (back.skipped, back.version) == (2, 42)
    assert pack_snapshot(samples()) == pack_fragments(replace(encoded, scope={}, unique=True))


def test_unpacked_fragments_are_bytes_that_keep_nothing_of_the_stored_value() -> None:
    """The page keeps each snapshot's lines for as long as it stands: as bytes, not views pinning the stored value."""
    data = pack_snapshot(samples())
    back = unpack_fragments(data, 1)
    assert all(type(fragment) is bytes for fragment in back.fragments.values())
    assert sys.getrefcount(data) == 2  # this local and getrefcount's own argument
    assert b"".join(back.fragments.values()) == b"".join(encode_samples(samples()).fragments.values())


@pytest.mark.parametrize(
    ("rows", "scope", "unique"),
    [
        pytest.param(
            [m.ACTIVITY_COMMITS.sample(1, {"org": "acme", "repo": "w", "user": u}) for u in ("a", "b")],
            {"org": "acme", "repo": "w"},
            True,
            id="labels-of-every-series",
        ),
        pytest.param(
            [
                m.ACTIVITY_COMMITS.sample(1, {"org": "acme", "repo": 'we"ird', "user": "a"}),
                m.ACTIVITY_LAST_EVENT.sample(2, {"org": "acme", "repo": 'we"ird', "user": "b"}),
            ],
            {"org": "acme", "repo": 'we\\"ird'},
            True,
            id="values-as-the-page-escapes-them",
        ),
        pytest.param(
            [m.ACTIVITY_COMMITS.sample(v, {"org": "acme", "repo": "w", "user": "a"}) for v in (1, 2)],
            {"org": "acme", "repo": "w", "user": "a"},
            False,
            id="a-series-twice",
        ),
        pytest.param(
            [
                m.ACTIVITY_COMMITS.sample(1, {"org": "acme", "repo": "w", "user": "a"}),
                m.SCRAPE_RUNS.sample(1, {"org": "acme", "result": "ok"}),
            ],
            {"org": "acme"},
            True,
            id="only-shared-labels",
        ),
        pytest.param(
            [Sample(m.ACTIVITY_COMMITS.name, (("org", "a"), ("org", "b"), ("repo", "w")), 1.0)],
            {"repo": "w"},
            True,
            id="a-label-named-twice-is-left-out",
        ),
        pytest.param([], {}, True, id="empty"),
    ],
)
def test_the_writer_stores_the_scope_and_whether_series_repeat(
    rows: list[Sample], scope: dict[str, str], unique: bool
) -> None:
    """A packed snapshot carries the labels all its series share (as the page writes them) and its uniqueness."""
    back = unpack_fragments(pack_snapshot(rows), 1)
    assert back.scope == scope
    assert back.unique is unique


def test_fragments_of_the_previous_layout_are_still_read() -> None:
    """Fragments an older writer stored (layout GSEF1: no scope) unpack to the same lines, scope unknown."""
    encoded = encode_samples(samples())
    previous = pack_snapshot_v1(samples())
    back = unpack_fragments(previous, 7)
    assert {name: bytes(data) for name, data in back.fragments.items()} == encoded.fragments
    assert back.hashes == encoded.hashes
    assert (back.scope, back.unique, back.skipped) == (None, False, 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=6), st.floats(allow_nan=True)), max_size=40))
def test_any_snapshot_round_trips(rows: list[tuple[str, float]]) -> None:
    """Whatever the label text and values, unpacking a packed snapshot restores its sample lines."""
    encoded = encode_samples(
        [m.ACTIVITY_LAST_EVENT.sample(v, {"org": "o", "repo": "r", "user": u}) for u, v in rows]
    )
    back = unpack_fragments(pack_fragments(encoded), 1)
    assert {name: bytes(data) for name, data in back.fragments.items()} == encoded.fragments
    assert back.hashes == encoded.hashes


def test_series_hashes_are_the_same_in_every_process() -> None:
    """A series hash does not depend on the process's string-hash seed, so replicas agree on it."""
    code = f"from github_stats_exporter.exposition.encoder import series_hash; print(series_hash({SERIES!r}))"
    seen = {
        subprocess.run(  # noqa: S603
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert seen == {str(series_hash(SERIES))}
    assert (
        series_hash(SERIES)
        == encode_samples(
            [m.ACTIVITY_COMMITS.sample(1, {"org": "acme", "repo": "w", "user": "alice"})]
        ).hashes[0]
    )


GOOD = pack_snapshot(samples())


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"GSEF9\n" + GOOD[6:], id="other-layout"),
        pytest.param(GOOD[:-1], id="truncated"),
        pytest.param(GOOD + b"x", id="trailing-bytes"),
        pytest.param(GOOD[:10] + b"\xff" * 8 + GOOD[18:], id="damaged-header"),
        pytest.param(GOOD[:6] + (10**6).to_bytes(4, "little") + GOOD[10:], id="header-length-too-big"),
    ],
)
def test_unreadable_fragments_raise_fragments_error(data: bytes) -> None:
    """Bytes of another layout or damaged bytes raise FragmentsError (the reader then encodes itself)."""
    with pytest.raises(FragmentsError):
        unpack_fragments(data, 1)


def test_fragments_naming_an_unknown_family_are_refused() -> None:
    """Fragments of a family this version does not know are not served (the samples are re-encoded)."""
    encoded = encode_samples(samples())
    renamed = type(encoded)(
        0, {"gh_retired_family": b"x 1\n"}, {"gh_retired_family": 1}, encoded.hashes[:1], 0
    )
    with pytest.raises(FragmentsError):
        unpack_fragments(pack_fragments(renamed), 1)


@pytest.mark.parametrize("count", [pytest.param(80, id="bulk-path"), pytest.param(None, id="careful-path")])
def test_lines_without_hashes_are_the_same_lines(count: int | None) -> None:
    """Encoding without series hashes (history runs, one-off pages) gives the same lines and no hashes."""
    rows = samples()[:count]
    hashed = encode_samples(rows)
    plain = encode_samples(rows, hashed=False)
    assert (plain.fragments, plain.counts, plain.skipped) == (hashed.fragments, hashed.counts, hashed.skipped)
    assert len(plain.hashes) == 0
    assert len(hashed.hashes) == sum(hashed.counts.values())
