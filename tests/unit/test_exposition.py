"""Exposition: formats, negotiation, golden pages, strict re-parsing, and the incremental page cache."""

from __future__ import annotations

import asyncio
import gc
import gzip
import io
import math
import os
import subprocess
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from tests.support.fragments_v1 import pack_snapshot_v1

from github_stats_exporter import metrics as m
from github_stats_exporter.exposition import (
    CacheNotReady,
    ExpositionCache,
    Format,
    accepts_gzip,
    encode_samples,
    family_header,
    negotiate,
    pack_snapshot,
    render,
)
from github_stats_exporter.exposition.cache import PageStore
from github_stats_exporter.model import Sample, Snapshot, SnapshotKey
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import StoredFragments, StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore

GOLDEN = Path(__file__).resolve().parent.parent / "golden"

WIDGETS = SnapshotKey("activity", ("acme", "widgets"))
GADGETS = SnapshotKey("activity", ("acme", "gadgets"))
COPILOT = SnapshotKey("copilot", ("acme", "org", "28d"))
SCRAPE = SnapshotKey("scrape", ("acme",))
WEIRD_USER = 'we"ird\\na\nme'


def oru(user: str, repo: str = "widgets") -> dict[str, str]:
    return {"org": "acme", "repo": repo, "user": user}


def golden_snapshots() -> list[Snapshot]:
    activity = (
        m.ACTIVITY_COMMITS.sample(3, oru("alice")),
        m.ACTIVITY_COMMITS.sample(1, oru(WEIRD_USER)),
        m.ACTIVITY_COMMITS.sample(2, oru("zoë 🚀")),
        m.ACTIVITY_LAST_EVENT.sample(1_700_000_000.5, oru("alice")),
    )
    copilot = (
        m.COPILOT_PRS_CREATED.sample(12, {**oru("all", "*"), "scope": "org", "window": "28d"}),
        m.COPILOT_PRS_CREATED.sample(
            4, {**oru("all", "*"), "scope": "org", "window": "28d", "feature": "code_review"}
        ),
    )
    scrape = (m.SCRAPE_DURATION.sample(0.25, {"org": "acme"}),)
    return [
        Snapshot(WIDGETS, activity, 1.0),
        Snapshot(COPILOT, copilot, 1.0),
        Snapshot(SCRAPE, scrape, 1.0),
    ]


async def filled_store(snapshots: Iterable[Snapshot], *, fragments: bool = False) -> MemorySnapshotStore:
    store = MemorySnapshotStore(fragments=pack_snapshot if fragments else None)
    for snap in snapshots:
        await store.put(snap)
    return store


async def golden_cache(*, fragments: bool = False) -> ExpositionCache:
    self_metrics = SelfMetrics()
    self_metrics.inc(m.HTTP_REQUESTS, {"path": "/metrics", "code": "200"}, 5)
    store = await filled_store(golden_snapshots(), fragments=fragments)
    cache = ExpositionCache(store, self_metrics, clock=lambda: 1000.0)
    assert await cache.refresh()
    return cache


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs; rerun with UPDATE_GOLDEN=1 if the change is intended"


def parse_openmetrics(data: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Strictly parse an OpenMetrics page into {(sample name, sorted labels): value}."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(data.decode("utf-8")):  # type: ignore[no-untyped-call]
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def expected_series(samples: Iterable[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(m.spec_for(s.name).sample_name, tuple(sorted(s.labels))): s.value for s in samples}


# --- golden pages and external validators ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        pytest.param(Format.OPENMETRICS, "exposition.om.txt", id="openmetrics"),
        pytest.param(Format.TEXT, "exposition.prom", id="text"),
    ],
)
@pytest.mark.parametrize(
    "fragments", [pytest.param(True, id="stored-fragments"), pytest.param(False, id="encoded-here")]
)
async def test_page_matches_golden_file(fmt: Format, name: str, fragments: bool) -> None:
    """The page (store part, self-metrics, EOF) is byte-for-byte the golden file, from stored fragments or not."""
    cache = await golden_cache(fragments=fragments)
    check_golden(name, cache.body(fmt))


async def test_openmetrics_page_parses_strictly_with_every_value_and_label() -> None:
    """prometheus_client's strict OpenMetrics parser reads back every series with its labels and value."""
    cache = await golden_cache()
    parsed = parse_openmetrics(cache.body(Format.OPENMETRICS))
    want = expected_series(s for snap in golden_snapshots() for s in snap.samples)
    assert {k: v for k, v in parsed.items() if k in want} == want
    assert parsed[("gh_exporter_http_requests_total", (("code", "200"), ("path", "/metrics")))] == 5


async def test_openmetrics_metadata_lines() -> None:
    """OpenMetrics pages carry TYPE, UNIT only for families with a unit, escaped HELP and end in # EOF."""
    page = (await golden_cache()).body(Format.OPENMETRICS).decode()
    assert page.endswith("\n# EOF\n")
    assert "# TYPE gh_exporter_http_requests counter\n" in page
    assert "# UNIT gh_exporter_scrape_duration_seconds seconds\n" in page
    assert "# UNIT gh_activity_commits_24h" not in page
    assert "gh_exporter_http_requests_total{" in page


async def test_text_metadata_lines() -> None:
    """Prometheus text pages name counters by their _total sample name, have no UNIT and no EOF."""
    page = (await golden_cache()).body(Format.TEXT).decode()
    assert "# HELP gh_exporter_http_requests_total " in page
    assert "# TYPE gh_exporter_http_requests_total counter\n" in page
    assert "# UNIT" not in page
    assert "# EOF" not in page


@pytest.fixture
def promtool_check(tool: Callable[..., str]) -> Callable[[bytes], subprocess.CompletedProcess[bytes]]:
    """Runs `promtool check metrics` on a page; skipped locally / failed under CI=true without promtool."""
    promtool = tool("promtool", Path("/usr/bin/promtool"))

    def check(page: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True, check=False)  # noqa: S603

    return check


def test_text_page_passes_promtool_check_metrics(
    promtool_check: Callable[[bytes], subprocess.CompletedProcess[bytes]],
) -> None:
    """promtool accepts the golden text page (checked byte-equal to the renderer above) without findings."""
    result = promtool_check((GOLDEN / "exposition.prom").read_bytes())
    assert result.returncode == 0, result.stderr.decode()


def test_every_contract_family_parses_in_promtool(
    promtool_check: Callable[[bytes], subprocess.CompletedProcess[bytes]],
) -> None:
    """A page with every family of the contract parses; lint findings are limited to inherited Go names."""
    samples = [spec.sample(1, dict.fromkeys(spec.labels, "x")) for spec in m.FAMILIES.values()]
    result = promtool_check(render(samples, Format.TEXT))
    findings = result.stderr.decode().splitlines()
    assert result.returncode in (0, 3), findings  # 1 would be a parse error
    # Copilot names follow GitHub's field names (docs/metrics.md): `_sum`, `_count`, `minutes`; the review
    # stages are GitHub's precomputed median and p90, a gauge with a `quantile` label (docs/metrics.md,
    # "Copilot repositories").
    allowed = (
        'should not have "_sum" suffix',
        'should not have "_count" suffix',
        'use base unit "seconds" instead of "minutes"',
        'non-summary metrics should not have "quantile" label',
    )
    assert all(any(a in line for a in allowed) for line in findings), findings


@settings(max_examples=150, deadline=None)
@given(value=st.text(max_size=40), user=st.text(max_size=10))
def test_any_label_value_round_trips_through_the_openmetrics_parser(value: str, user: str) -> None:
    """Any unicode label value survives escaping and strict re-parsing unchanged."""
    samples = [
        m.COPILOT_PRS_CREATED.sample(1, {**oru(user), "feature": value}),
        m.HTTP_REQUESTS.sample(2, {"path": value, "code": "200"}),
    ]
    parsed = parse_openmetrics(render(samples, Format.OPENMETRICS))
    assert parsed == expected_series(samples)


# --- encoding rules ---------------------------------------------------------------------------------


def test_label_values_are_escaped_identically_in_both_formats() -> None:
    """Backslash, double quote and newline in label values are escaped; the sample line is shared."""
    sample = m.ACTIVITY_COMMITS.sample(1, oru(WEIRD_USER))
    line = 'gh_activity_commits_24h{org="acme",repo="widgets",user="we\\"ird\\\\na\\nme"} 1\n'
    assert encode_samples([sample]).fragments == {"gh_activity_commits_24h": line.encode()}
    assert line.encode() in render([sample], Format.TEXT)
    assert line.encode() in render([sample], Format.OPENMETRICS)


def test_help_escaping_differs_by_format() -> None:
    """HELP escapes backslash and newline in both formats and double quotes only in OpenMetrics."""
    spec = m.MetricSpec("gh_test_help", m.MetricType.GAUGE, 'a\\b "c"\nd')
    om = family_header(spec, Format.OPENMETRICS).decode()
    text = family_header(spec, Format.TEXT).decode()
    assert '# HELP gh_test_help a\\\\b \\"c\\"\\nd\n' in om
    assert '# HELP gh_test_help a\\\\b "c"\\nd\n' in text


def test_values_use_the_shared_number_format() -> None:
    """Integral values print without a fraction, others with repr, NaN and infinities by name."""
    values = [3.0, 0.25, 1e20, math.nan, math.inf, -math.inf, -0.0]
    samples = [m.ACTIVITY_COMMITS.sample(v, oru(f"u{i}")) for i, v in enumerate(values)]
    text = render(samples, Format.TEXT).decode().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in text[2:]] == ["3", "0.25", "1e+20", "NaN", "+Inf", "-Inf", "0"]


def test_unknown_families_and_invalid_counter_values_are_skipped_and_counted() -> None:
    """A sample outside the contract, a negative or NaN counter, or a non-number never breaks the page."""
    samples = [
        Sample("not_in_the_contract", (), 1.0),
        m.HTTP_REQUESTS.sample(-1, {"path": "/metrics", "code": "200"}),
        m.HTTP_REQUESTS.sample(math.nan, {"path": "/livez", "code": "200"}),
        Sample("gh_activity_commits_24h", (("org", "acme"),), "seven"),  # type: ignore[arg-type]
        m.HTTP_REQUESTS.sample(2, {"path": "/readyz", "code": "200"}),
        m.ACTIVITY_COMMITS.sample(1, oru("alice")),
    ]
    encoded = encode_samples(samples)
    assert encoded.skipped == 4
    assert encoded.counts == {"gh_exporter_http_requests": 1, "gh_activity_commits_24h": 1}


def test_lone_surrogates_in_label_values_do_not_break_encoding() -> None:
    """A label value that is not encodable as UTF-8 is rendered with a replacement character."""
    page = render([m.ACTIVITY_COMMITS.sample(1, oru("bad\udc80"))], Format.OPENMETRICS)
    assert 'user="bad?"' in page.decode()


def test_families_are_contiguous_and_sorted_with_mixed_label_sets() -> None:
    """Interleaved samples come out grouped per family, families sorted, optional labels allowed."""
    samples = [
        m.COPILOT_PRS_CREATED.sample(1, {**oru("a"), "scope": "org"}),
        m.ACTIVITY_COMMITS.sample(1, oru("a")),
        m.COPILOT_PRS_CREATED.sample(2, oru("b")),
        m.ACTIVITY_COMMITS.sample(2, oru("b")),
    ]
    page = render(samples, Format.OPENMETRICS).decode()
    names = [line.split("{")[0] for line in page.splitlines() if not line.startswith("#")]
    assert names == ["gh_activity_commits_24h"] * 2 + ["gh_copilot_usage_pull_requests_total_created"] * 2
    assert len(parse_openmetrics(page.encode())) == 4


# --- negotiation ----------------------------------------------------------------------------------

PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)
PROMETHEUS_3_PROTOBUF_FIRST = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,"
    + PROMETHEUS_3
)
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "want"),
    [
        pytest.param(None, Format.TEXT, id="absent"),
        pytest.param("", Format.TEXT, id="empty"),
        pytest.param(PROMETHEUS_2, Format.OPENMETRICS, id="prometheus-2"),
        pytest.param(PROMETHEUS_3, Format.OPENMETRICS, id="prometheus-3"),
        pytest.param(PROMETHEUS_3_PROTOBUF_FIRST, Format.OPENMETRICS, id="prometheus-3-protobuf"),
        pytest.param("text/plain;version=0.0.4", Format.TEXT, id="text-only"),
        pytest.param(BROWSER, Format.TEXT, id="browser"),
        pytest.param("*/*", Format.TEXT, id="curl"),
        pytest.param("application/openmetrics-text", Format.OPENMETRICS, id="om-no-version"),
        pytest.param("application/openmetrics-text; version=0.0.1", Format.TEXT, id="om-old-version-only"),
        pytest.param("application/openmetrics-text;version=2.0.0", Format.TEXT, id="om-unknown-version"),
        pytest.param("application/openmetrics-text;q=0", Format.TEXT, id="om-refused"),
        pytest.param("text/plain;q=0.9,application/openmetrics-text;q=0.5", Format.TEXT, id="text-preferred"),
        pytest.param("text/plain;q=0.5,application/openmetrics-text;q=0.5", Format.OPENMETRICS, id="tie"),
        pytest.param("APPLICATION/OpenMetrics-Text; Version=1.0.0", Format.OPENMETRICS, id="case"),
        pytest.param("application/openmetrics-text;q=abc", Format.TEXT, id="bad-q"),
        pytest.param("application/openmetrics-text;q=nan", Format.TEXT, id="nan-q"),
        pytest.param("application/openmetrics-text;q=7", Format.TEXT, id="q-out-of-range"),
        pytest.param(";;;,,,=;q=;", Format.TEXT, id="garbage"),
        pytest.param("\x00\xff" * 50, Format.TEXT, id="binary"),
        pytest.param('application/openmetrics-text;version="1.0.0"', Format.OPENMETRICS, id="quoted-version"),
    ],
)
def test_negotiate(accept: str | None, want: Format) -> None:
    """The format follows the Accept header's preferences and falls back to text on anything odd."""
    assert negotiate(accept) is want


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_negotiate_never_raises(accept: str) -> None:
    """Any header text yields a format instead of an exception."""
    assert negotiate(accept) in Format
    assert accepts_gzip(accept) in (True, False)


@pytest.mark.parametrize(
    ("header", "want"),
    [
        pytest.param(None, False, id="absent"),
        pytest.param("gzip", True, id="gzip"),
        pytest.param("gzip, deflate, br", True, id="browser"),
        pytest.param("identity", False, id="identity"),
        pytest.param("gzip;q=0", False, id="gzip-refused"),
        pytest.param("*", True, id="star"),
        pytest.param("*;q=0.1, gzip;q=0", False, id="star-but-not-gzip"),
        pytest.param("x-gzip", True, id="x-gzip"),
        pytest.param("GZIP;q=0.5", True, id="case"),
        pytest.param("gzip;q=zz", False, id="bad-q"),
    ],
)
def test_accepts_gzip(header: str | None, want: bool) -> None:
    """gzip is used only when Accept-Encoding allows it."""
    assert accepts_gzip(header) is want


# --- the cache ----------------------------------------------------------------------------------


class SpyStore(MemorySnapshotStore):
    """Memory store that counts reads and can be switched to fail like an unreachable backend.

    With ``fragments`` it keeps encoded fragments; ``unfragmented`` keys then read as written by an older
    version (no fragments) and ``damaged`` keys' fragments as bytes this version cannot read.
    """

    def __init__(self, *, fragments: bool = False) -> None:
        super().__init__(fragments=pack_snapshot if fragments else None)
        self.fail_on: str | None = None
        self.calls: list[str] = []
        self.vanish: set[SnapshotKey] = set()
        self.unfragmented: set[SnapshotKey] = set()
        self.damaged: set[SnapshotKey] = set()
        self.read: list[SnapshotKey] = []

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_on:
            msg = "store down"
            raise StoreUnavailable(msg)

    async def generation(self) -> int:
        self._maybe_fail("generation")
        return await super().generation()

    async def versions(self) -> dict[SnapshotKey, int]:
        self._maybe_fail("versions")
        return await super().versions()

    async def get_many(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        self._maybe_fail("get_many")
        keys = list(keys)
        self.read += keys
        found = await super().get_many(keys)
        return {k: v for k, v in found.items() if k not in self.vanish}

    async def get_fragments(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, StoredFragments]:
        self._maybe_fail("get_fragments")
        found = await super().get_fragments(keys)
        return {
            k: StoredFragments(v.version, b"GSEF9\n" if k in self.damaged else v.data)
            for k, v in found.items()
            if k not in self.vanish and k not in self.unfragmented
        }


def activity(key: SnapshotKey, *users: str, value: float = 1) -> Snapshot:
    return Snapshot(key, tuple(m.ACTIVITY_COMMITS.sample(value, oru(u, key.parts[-1])) for u in users), 1.0)


def make_cache(store: PageStore, **kw: float) -> ExpositionCache:
    return ExpositionCache(store, SelfMetrics(), **kw)  # type: ignore[arg-type]


def store_series(cache: ExpositionCache) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    parsed = parse_openmetrics(cache.body(Format.OPENMETRICS))
    return {k: v for k, v in parsed.items() if not k[0].startswith("gh_exporter_")}


async def test_body_before_the_first_refresh_raises() -> None:
    """There is no page (and no empty page) until a refresh has succeeded."""
    cache = make_cache(MemorySnapshotStore())
    readiness = [cache.ready]
    with pytest.raises(CacheNotReady):
        cache.body(Format.TEXT)
    assert await cache.refresh()
    readiness.append(cache.ready)
    assert readiness == [False, True]
    assert cache.body(Format.OPENMETRICS).endswith(b"# EOF\n")


async def test_unchanged_generation_costs_one_store_call() -> None:
    """When the store's generation has not moved, refresh reads nothing else and reports no change."""
    store = SpyStore()
    await store.put(activity(WIDGETS, "alice"))
    cache = make_cache(store)
    assert await cache.refresh()
    store.calls.clear()
    assert not await cache.refresh()
    assert store.calls == ["generation"]


async def test_refresh_re_encodes_only_changed_snapshots() -> None:
    """Changing one snapshot re-encodes that one only and fetches only its key."""
    store = SpyStore()
    for i in range(5):
        await store.put(activity(SnapshotKey("activity", ("acme", f"r{i}")), "alice", "bob"))
    cache = make_cache(store)
    await cache.refresh()
    assert cache.encoded_snapshots == 5
    fetched: list[list[SnapshotKey]] = []
    original = store.get_many

    async def recording_get_many(keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        fetched.append(list(keys))
        return await original(keys)

    store.get_many = recording_get_many  # type: ignore[method-assign]
    await store.put(activity(SnapshotKey("activity", ("acme", "r3")), "carol", value=9))
    assert await cache.refresh()
    assert cache.encoded_snapshots == 6
    assert fetched == [[SnapshotKey("activity", ("acme", "r3"))]]
    series = store_series(cache)
    assert series[("gh_activity_commits_24h", tuple(sorted(oru("carol", "r3").items())))] == 9
    assert len(series) == 9


async def test_stored_fragments_build_the_page_without_reading_samples() -> None:
    """With fragments in the store a refresh never reads samples, and serves the bytes of an encoding cache."""
    store = SpyStore(fragments=True)
    for snap in golden_snapshots():
        await store.put(snap)
    cache = make_cache(store)
    reference = make_cache(await filled_store(golden_snapshots()))
    await cache.refresh()
    await reference.refresh()
    assert "get_many" not in store.calls
    for fmt in Format:
        assert b"".join(cache.parts(fmt)[0]) == b"".join(reference.parts(fmt)[0])
    assert cache.encoded_snapshots == 3


async def test_a_cold_page_keeps_few_objects_for_the_garbage_collector_per_snapshot() -> None:
    """Stored fragments become bytes in the page, not views: a full collection scans ~4 objects per snapshot.

    With views it was 10 (a memoryview per family and one for the value, a managed buffer, and the
    dict holding them became tracked); docs/benchmarks.md, "Fewer objects for the garbage collector".
    """
    store = MemorySnapshotStore(fragments=pack_snapshot)
    count = 2_000
    for r in range(count):
        key = SnapshotKey("activity", ("acme", f"r{r}"))
        rows = [m.ACTIVITY_COMMITS.sample(1, oru(u, f"r{r}")) for u in ("alice", "bob")]
        rows += [m.ACTIVITY_PRS_OPENED.sample(2, oru(u, f"r{r}")) for u in ("alice", "bob")]
        await store.put(Snapshot(key, tuple(rows), 1.0))
    cache = make_cache(store)
    gc.collect()
    before = len(gc.get_objects())

    await cache.refresh()
    gc.collect()

    assert (len(gc.get_objects()) - before) / count < 4.5
    assert (
        store_series(cache)[("gh_activity_prs_opened_24h", tuple(sorted(oru("bob", "r1999").items())))] == 2
    )


async def test_snapshots_without_readable_fragments_are_encoded_here() -> None:
    """Snapshots of an older writer (no fragments) or with unreadable fragments are fetched and encoded; same page."""
    store = SpyStore(fragments=True)
    for snap in golden_snapshots():
        await store.put(snap)
    store.unfragmented = {WIDGETS}
    store.damaged = {SCRAPE}
    cache = make_cache(store)
    await cache.refresh()
    assert sorted(store.read, key=str) == [WIDGETS, SCRAPE]
    reference = make_cache(await filled_store(golden_snapshots()))
    await reference.refresh()
    for fmt in Format:
        assert b"".join(cache.parts(fmt)[0]) == b"".join(reference.parts(fmt)[0])
    store.unfragmented = set()
    await store.put(activity(WIDGETS, "bob", value=4))  # now rewritten by this version's writer
    store.read.clear()
    assert await cache.refresh()
    assert store.read == []
    assert store_series(cache)[("gh_activity_commits_24h", tuple(sorted(oru("bob").items())))] == 4


async def test_a_page_of_both_fragment_layouts_serves_each_series_once() -> None:
    """Snapshots stored by the previous writer (no scope) and by this one, claiming one series, serve it once."""
    old_users = {"carol"}

    def mixed_writer(samples: Iterable[Sample]) -> bytes:
        rows = list(samples)
        previous = any(dict(s.labels).get("user") in old_users for s in rows)
        return pack_snapshot_v1(rows) if previous else pack_snapshot(rows)

    def commits(key: str, *users: str, repo: str = "w") -> Snapshot:
        samples = tuple(m.ACTIVITY_COMMITS.sample(1, oru(u, repo)) for u in users)
        return Snapshot(SnapshotKey("activity", ("acme", key)), samples, 1.0)

    # a and b (the previous writer's) both claim bob in repo w; c is in another repo.
    snaps = [commits("a", "alice", "bob"), commits("b", "bob", "carol"), commits("c", "dora", repo="g")]
    store = MemorySnapshotStore(fragments=mixed_writer)
    for snap in snaps:
        await store.put(snap)
    cache = make_cache(store)
    reference = make_cache(await filled_store(snaps))
    await cache.refresh()
    await reference.refresh()
    assert cache.duplicate_series == 1
    for fmt in Format:
        assert b"".join(cache.parts(fmt)[0]) == b"".join(reference.parts(fmt)[0])
    old_users.clear()  # the upgraded writer takes the snapshot back
    await store.put(snaps[1])
    await reference.refresh()
    assert await cache.refresh()
    assert cache.duplicate_series == 1
    assert b"".join(cache.parts(Format.TEXT)[0]) == b"".join(reference.parts(Format.TEXT)[0])


async def test_deleted_snapshots_disappear() -> None:
    """A snapshot deleted from the store leaves the page, and its families' loaded-series gauges go."""
    store = MemorySnapshotStore()
    await store.put(activity(WIDGETS, "alice"))
    await store.put(Snapshot(SCRAPE, (m.SCRAPE_DURATION.sample(1, {"org": "acme"}),), 1.0))
    self_metrics = SelfMetrics()
    cache = ExpositionCache(store, self_metrics)
    await cache.refresh()
    assert self_metrics.value(m.SERIES_LOADED, {"metric": "gh_exporter_scrape_duration_seconds"}) == 1
    await store.delete(SCRAPE)
    assert await cache.refresh()
    page = cache.body(Format.TEXT).decode()
    assert "gh_exporter_scrape_duration_seconds{" not in page
    assert cache.series_count == 1
    assert (
        "gh_exporter_metrics_series_loaded",
        (("metric", "gh_exporter_scrape_duration_seconds"),),
    ) not in {(s.name, s.labels) for s in self_metrics.samples()}


async def test_key_deleted_between_versions_and_get_many_is_dropped() -> None:
    """A snapshot that vanishes while the cache reads it is treated as deleted, not as an error."""
    store = SpyStore()
    await store.put(activity(WIDGETS, "alice"))
    await store.put(activity(GADGETS, "bob"))
    cache = make_cache(store)
    await cache.refresh()
    await store.put(activity(WIDGETS, "carol"))
    store.vanish = {WIDGETS}
    assert await cache.refresh()
    assert {k[1] for k in store_series(cache)} == {tuple(sorted(oru("bob", "gadgets").items()))}


async def test_store_failure_keeps_the_last_good_page_and_raises() -> None:
    """A failing store during refresh leaves the served bytes unchanged and surfaces the error."""
    store = SpyStore(fragments=True)
    store.unfragmented = {GADGETS}  # read with get_many, the others with get_fragments
    await store.put(activity(WIDGETS, "alice"))
    await store.put(activity(GADGETS, "alice"))
    cache = make_cache(store)
    await cache.refresh()
    before = cache.body(Format.TEXT)
    await store.put(activity(WIDGETS, "bob"))
    await store.put(activity(GADGETS, "bob"))
    for failing_call in ("generation", "versions", "get_fragments", "get_many"):
        store.calls.clear()
        store.fail_on = failing_call
        with pytest.raises(StoreUnavailable):
            await cache.refresh()
        store.fail_on = None
        assert store.calls[-1] == failing_call
        assert cache.body(Format.TEXT) == before
        assert cache.ready
    assert await cache.refresh()
    assert b'user="bob"' in cache.body(Format.TEXT)


async def test_store_failure_after_generation_read_keeps_last_good_page() -> None:
    """A failure in versions() after generation() succeeded still keeps the last good page."""
    store = SpyStore()
    await store.put(activity(WIDGETS, "alice"))
    cache = make_cache(store)
    await cache.refresh()
    before = cache.body(Format.OPENMETRICS)
    await store.put(activity(WIDGETS, "bob"))

    async def broken_versions() -> dict[SnapshotKey, int]:
        raise ConnectionResetError

    store.versions = broken_versions  # type: ignore[method-assign]
    with pytest.raises(ConnectionResetError):
        await cache.refresh()
    assert cache.body(Format.OPENMETRICS) == before


@pytest.mark.parametrize(
    "fragments", [pytest.param(True, id="stored-fragments"), pytest.param(False, id="encoded-here")]
)
async def test_duplicate_series_keep_the_first_snapshot_by_key_order(fragments: bool) -> None:
    """The same series in two snapshots is served once, from the snapshot whose key sorts first."""
    store = await filled_store([], fragments=fragments)
    shared = m.ACTIVITY_COMMITS.sample(1, oru("alice"))
    await store.put(Snapshot(SnapshotKey("b"), (m.ACTIVITY_COMMITS.sample(2, oru("alice")),), 1.0))
    await store.put(Snapshot(SnapshotKey("a"), (shared, m.ACTIVITY_COMMITS.sample(5, oru("zed"))), 1.0))
    cache = make_cache(store)
    await cache.refresh()
    key = ("gh_activity_commits_24h", tuple(sorted(oru("alice").items())))
    assert store_series(cache)[key] == 1
    assert cache.duplicate_series == 1
    assert cache.series_count == 2
    await store.delete(SnapshotKey("a"))
    await cache.refresh()
    assert store_series(cache) == {key: 2}
    assert cache.duplicate_series == 0


@pytest.mark.parametrize(
    "fragments", [pytest.param(True, id="stored-fragments"), pytest.param(False, id="encoded-here")]
)
async def test_duplicate_series_inside_one_snapshot_are_served_once(fragments: bool) -> None:
    """A snapshot listing the same series twice serves its first value only."""
    store = await filled_store([], fragments=fragments)
    samples = (m.ACTIVITY_COMMITS.sample(1, oru("alice")), m.ACTIVITY_COMMITS.sample(2, oru("alice")))
    await store.put(Snapshot(WIDGETS, samples, 1.0))
    cache = make_cache(store)
    await cache.refresh()
    assert list(store_series(cache).values()) == [1]
    assert cache.body(Format.TEXT).count(b"gh_activity_commits_24h{") == 1
    await store.put(Snapshot(WIDGETS, samples[:1], 1.0))
    await cache.refresh()
    assert cache.duplicate_series == 0


async def test_store_owns_a_family_over_self_metrics() -> None:
    """When a family is in both the store and the process's metrics, only the store's samples are served."""
    store = MemorySnapshotStore()
    await store.put(Snapshot(SCRAPE, (m.SCRAPE_RUNS.sample(4, {"org": "acme", "result": "ok"}),), 1.0))
    self_metrics = SelfMetrics()
    self_metrics.inc(m.SCRAPE_RUNS, {"org": "local", "result": "ok"})
    self_metrics.inc(m.HTTP_REQUESTS, {"path": "/metrics", "code": "200"})
    cache = ExpositionCache(store, self_metrics)
    await cache.refresh()
    parsed = parse_openmetrics(cache.body(Format.OPENMETRICS))
    runs = {k: v for k, v in parsed.items() if k[0] == "gh_exporter_scrape_runs_total"}
    assert runs == {("gh_exporter_scrape_runs_total", (("org", "acme"), ("result", "ok"))): 4}
    assert ("gh_exporter_http_requests_total", (("code", "200"), ("path", "/metrics"))) in parsed


async def test_self_metrics_changes_show_without_a_store_refresh() -> None:
    """The self-metrics part follows the process's counters on every body() call."""
    self_metrics = SelfMetrics()
    cache = ExpositionCache(MemorySnapshotStore(), self_metrics)
    await cache.refresh()
    self_metrics.inc(m.HTTP_REQUESTS, {"path": "/livez", "code": "200"})
    assert b'gh_exporter_http_requests_total{path="/livez",code="200"} 1\n' in cache.body(Format.TEXT)
    self_metrics.inc(m.HTTP_REQUESTS, {"path": "/livez", "code": "200"})
    assert b'gh_exporter_http_requests_total{path="/livez",code="200"} 2\n' in cache.body(Format.TEXT)


async def test_refresh_records_loaded_series_and_duration() -> None:
    """Each rebuild sets the per-family loaded-series gauge and the refresh duration gauge."""
    now = iter([10.0, 10.5, 11.0])
    store = await filled_store([activity(WIDGETS, "alice", "bob")])
    self_metrics = SelfMetrics()
    cache = ExpositionCache(store, self_metrics, clock=lambda: next(now))
    await cache.refresh()
    assert self_metrics.value(m.SERIES_LOADED, {"metric": "gh_activity_commits_24h"}) == 2
    assert self_metrics.value(m.CACHE_REFRESH_DURATION) == 0.5
    assert cache.last_success_unixtime == 10.5


@pytest.mark.parametrize("threshold", [pytest.param(1, id="worker-thread"), pytest.param(10**9, id="inline")])
async def test_worker_thread_and_inline_rebuilds_render_the_same_page(threshold: int) -> None:
    """Offloaded and in-loop rebuilds produce identical bytes, including after an update and a delete."""
    store = await filled_store(golden_snapshots())
    reference = ExpositionCache(store, SelfMetrics(), offload_threshold=10**9)
    cache = ExpositionCache(store, SelfMetrics(), offload_threshold=threshold)
    for change in (None, "update", "delete"):
        if change == "update":
            await store.put(activity(WIDGETS, "dora", value=3))
        elif change == "delete":
            await store.delete(COPILOT)
        await reference.refresh()
        await cache.refresh()
        assert cache.body(Format.TEXT, gzip=True)  # marks gzip as wanted so the next rebuild precompresses
        assert gzip.decompress(cache.body(Format.TEXT, gzip=True)) == cache.body(Format.TEXT)
        assert store_series(cache) == store_series(reference)


def decode_members_streaming(data: bytes) -> bytes:
    """Decode a gzip stream chunk by chunk, member after member, like an HTTP client does."""
    out = bytearray()
    decoder = zlib.decompressobj(wbits=47)
    for i in range(0, len(data), 7):
        chunk = data[i : i + 7]
        while chunk:
            out += decoder.decompress(chunk)
            if not decoder.eof:
                break
            chunk = decoder.unused_data
            decoder = zlib.decompressobj(wbits=47)
    return bytes(out)


@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.name.lower())
async def test_gzip_body_is_a_multi_member_stream_of_the_plain_body(fmt: Format) -> None:
    """The gzip body decodes, with every common reader, to exactly the plain body."""
    cache = await golden_cache()
    plain = cache.body(fmt)
    compressed = cache.body(fmt, gzip=True)
    assert compressed[:2] == b"\x1f\x8b"
    assert gzip.decompress(compressed) == plain
    assert decode_members_streaming(compressed) == plain
    with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as reader:
        assert reader.read() == plain


OPS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),  # snapshot key
        # (user, repo, value): snapshots whose samples share a repo have it in their scope, others do not.
        st.one_of(
            st.none(),
            st.lists(
                st.tuples(st.sampled_from("uvwxyz"), st.sampled_from("wg"), st.integers(0, 9)), max_size=6
            ),
        ),
        st.booleans(),  # refresh after this operation?
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(ops=OPS, threshold=st.sampled_from([1, 10**9]), fragments=st.booleans())
def test_incremental_page_equals_a_from_scratch_model(
    ops: list[tuple[str, list[tuple[str, str, int]] | None, bool]], threshold: int, fragments: bool
) -> None:
    """Any sequence of puts, deletes and refreshes serves what a naive first-wins model of the store says."""

    async def scenario() -> None:
        store = MemorySnapshotStore(fragments=pack_snapshot if fragments else None)
        cache = ExpositionCache(store, SelfMetrics(), offload_threshold=threshold)
        model: dict[str, list[tuple[str, str, int]]] = {}
        for key, samples, refresh in [*ops[:-1], (*ops[-1][:2], True)]:
            if samples is None:
                model.pop(key, None)
                await store.delete(SnapshotKey(key))
            else:
                model[key] = samples
                snapshot_samples = tuple(m.ACTIVITY_COMMITS.sample(v, oru(u, r)) for u, r, v in samples)
                await store.put(Snapshot(SnapshotKey(key), snapshot_samples, 1.0))
            if refresh:
                await cache.refresh()
                want: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
                for k in sorted(model):
                    for u, r, v in model[k]:
                        want.setdefault(("gh_activity_commits_24h", tuple(sorted(oru(u, r).items()))), v)
                assert store_series(cache) == want
                assert cache.series_count == len(want)

    asyncio.run(scenario())
