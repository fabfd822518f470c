"""Samples to exposition bytes: label escaping, family metadata lines and per-family sample fragments.

Pure functions over the metric contract; no I/O, no caching beyond the per-family header bytes.
Sample lines are identical in OpenMetrics 1.0 and Prometheus text 0.0.4, so they are encoded once.

`pack_fragments` is the stored form of an encoded snapshot: the writer encodes a snapshot once and the
store keeps these bytes next to it, so a replica builds its page by concatenation (`unpack_fragments`
slices the lines out; nothing is decoded). Series hashes are an unkeyed 64-bit BLAKE2b of the
series identity, the same in every process (Python's ``hash()`` of a string is not).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from operator import attrgetter, methodcaller

import msgspec

from github_stats_exporter.exposition.negotiation import Format
from github_stats_exporter.metrics import FAMILIES, MetricSpec, MetricType
from github_stats_exporter.model import Labels, Sample, format_value

EOF = b"# EOF\n"
_VALUE_CACHE_SIZE = 4096
_FAST_PATH_MIN_SAMPLES = 64
"""Below this many samples the per-sample loop is as fast and the bulk path's set-up is not worth it."""
_name_of = attrgetter("name")
_labels_of = attrgetter("labels")
_value_of = attrgetter("value")
_digest = methodcaller("digest")
_blake2b_8 = functools.partial(hashlib.blake2b, digest_size=8)
_FRAGMENTS_MAGIC = b"GSEF2\n"
"""Leads the stored fragments; a new layout gets a new magic and readers fall back on unknown ones."""
_FRAGMENTS_MAGIC_V1 = b"GSEF1\n"
"""The previous layout (no scope, no uniqueness flag), still read: an older writer's fragments."""
_header_decoder = msgspec.msgpack.Decoder(
    tuple[int, int, list[tuple[str, int, int]], list[tuple[str, str]], bool]
)
_header_decoder_v1 = msgspec.msgpack.Decoder(tuple[int, int, list[tuple[str, int, int]]])


def series_hashes(prefixes: Iterable[str]) -> array[int]:
    """Stable 64-bit hashes of series identities (``name{labels}``), computed through C-level calls only."""
    digests = b"".join(map(_digest, map(_blake2b_8, map(str.encode, prefixes))))
    hashes = array("q")
    hashes.frombytes(digests)
    return hashes


def series_hash(prefix: str) -> int:
    """The hash `series_hashes` gives one series identity."""
    return series_hashes((prefix,))[0]


def _escape_label_value(value: str) -> str:
    if not value.isascii():
        # Lone surrogates cannot be UTF-8 encoded; replace them here so one bad value cannot fail a page.
        value = value.encode("utf-8", "replace").decode("utf-8")
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _label_text(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in labels) + "}"


def _escape_help(text: str, fmt: Format) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if fmt is Format.OPENMETRICS else text


@functools.cache
def family_header(spec: MetricSpec, fmt: Format) -> bytes:
    """Metadata lines of one family: TYPE/UNIT/HELP for OpenMetrics, HELP/TYPE on the sample name for text."""
    help_text = _escape_help(spec.help, fmt)
    if fmt is Format.OPENMETRICS:
        lines = [f"# TYPE {spec.name} {spec.type.value}"]
        if spec.unit:
            lines.append(f"# UNIT {spec.name} {spec.unit}")
        lines.append(f"# HELP {spec.name} {help_text}")
    else:
        lines = [f"# HELP {spec.sample_name} {help_text}", f"# TYPE {spec.sample_name} {spec.type.value}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class EncodedSnapshot:
    """Sample lines of one snapshot, one UTF-8 fragment per family, valid in both formats.

    ``hashes`` holds `series_hash` of every series identity (sample name plus labels) so the cache can
    spot a series that two snapshots both claim without keeping the identities themselves. Fragments
    are ``bytes``, never views into the stored bytes: a page holds one entry per snapshot for as long as
    the snapshot stands, and views are objects the cyclic garbage collector scans on every full
    collection (a memoryview per family, the one they were cut from and its managed buffer; they make
    the dict holding them tracked too), while bytes are none (docs/benchmarks.md, "Fewer objects for
    the garbage collector").

    ``scope`` holds the labels (name -> escaped value text) that every series of the snapshot carries,
    and ``unique`` says that no series repeats inside the snapshot; the writer works both out once
    (`pack_snapshot`) so readers can tell snapshots that share no series without comparing hashes.
    None / False when unknown (an older writer, or encoded locally).
    """

    version: int
    fragments: dict[str, bytes]
    counts: dict[str, int]
    hashes: array[int]
    skipped: int
    scope: dict[str, str] | None = None
    unique: bool = False


def encode_samples(samples: Iterable[Sample], version: int = 0, *, hashed: bool = True) -> EncodedSnapshot:
    """Encode samples into per-family fragments, in the order given.

    Samples of an unknown family, with a non-numeric value, or with a negative/NaN counter value are
    skipped and counted, so one bad sample never fails a page. Without ``hashed`` the series hashes
    are left empty (for callers that only want the lines; hashing is a third of the cost).
    """
    items = samples if isinstance(samples, list | tuple) else list(samples)
    if len(items) >= _FAST_PATH_MIN_SAMPLES:
        fast = _encode_bulk(items, version, hashed=hashed)
        if fast is not None:
            return fast
    return _encode_each(items, version, hashed=hashed)


def _value_tails(values: list[object]) -> tuple[dict[object, str], set[object]] | None:
    """ " value\n" text per distinct value, and the values a counter must not carry (negative, NaN)."""
    tails: dict[object, str] = {}
    bad_for_counter: set[object] = set()
    for value in set(values):
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        tails[value] = f" {format_value(number)}\n"
        if not number >= 0.0:
            bad_for_counter.add(value)
    return tails, bad_for_counter


def _encode_bulk(samples: Sequence[Sample], version: int, *, hashed: bool = True) -> EncodedSnapshot | None:
    """The whole snapshot through C-level calls: labels become text via one JSON encode and a few replaces.

    Returns None (use the per-sample path) unless every sample has a known family, at least one label,
    a valid value, and label values without characters that need escaping or that could be mistaken
    for JSON structure (``\\``, ``"``, newlines and control characters, ``[``, ``]``, ``,``). Without
    those, the JSON text of ``[[["k","v"],...],...]`` maps one to one onto ``k="v",...`` label text.
    """
    names = list(map(_name_of, samples))
    families = dict.fromkeys(names)
    if not all(name in FAMILIES for name in families):
        return None
    if len(families) > 1:
        order = sorted(range(len(names)), key=names.__getitem__)  # stable: keeps order inside a family
        samples = list(map(samples.__getitem__, order))
        names = list(map(names.__getitem__, order))
    labels = list(map(_labels_of, samples))
    values = list(map(_value_of, samples))
    if not all(labels):
        return None
    value_info = _value_tails(values)
    if value_info is None:
        return None
    tails, bad_for_counter = value_info
    fragments: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    prefixes: list[str] = []
    start = 0
    for name in sorted(families) if len(families) > 1 else families:
        spec = FAMILIES[name]
        end = bisect.bisect_right(names, name, start) if len(families) > 1 else len(names)
        family_values = values[start:end]
        if spec.type is MetricType.COUNTER and not bad_for_counter.isdisjoint(family_values):
            return None
        family_prefixes = _label_prefixes(spec.sample_name, labels[start:end])
        if family_prefixes is None:
            return None
        lines = chain.from_iterable(zip(family_prefixes, map(tails.__getitem__, family_values), strict=True))
        fragments[name] = "".join(lines).encode()
        counts[name] = end - start
        prefixes += family_prefixes
        start = end
    hashes = series_hashes(prefixes) if hashed else array("q")
    return EncodedSnapshot(version, dict(fragments), counts, hashes, 0)


def _label_prefixes(sample_name: str, labels: list[Labels]) -> list[str] | None:
    """``name{k="v",...}`` for every label set, or None when a value needs the careful path."""
    try:
        raw = msgspec.json.encode(labels)
    except (msgspec.EncodeError, UnicodeEncodeError, TypeError):
        return None
    pairs = sum(map(len, labels))
    brackets = 1 + len(labels) + pairs
    if (
        b"\\" in raw
        or raw.count(b"[") != brackets
        or raw.count(b"]") != brackets
        or raw.count(b",") != 2 * pairs - 1
    ):
        return None
    # Only structural quotes are left, so each token below has exactly one meaning. NUL cannot occur
    # in the text (JSON escapes control characters, and any backslash sent us to the careful path).
    head = sample_name + "{"
    text = (
        raw[4:-4]
        .decode("utf-8")
        .replace('"],["', '",')
        .replace('","', '="')
        .replace('"]],[["', '"}\x00' + head)
    )
    return (head + text + '"}').split("\x00")


def _encode_each(samples: Iterable[Sample], version: int, *, hashed: bool = True) -> EncodedSnapshot:
    """Sample by sample, with full escaping; handles everything the bulk path declines."""
    families: dict[str, tuple[list[str], str, dict[object, str]]] = {}  # lines, sample name, value texts
    label_texts: dict[Labels, str] = {}
    gauge_values: dict[object, str] = {}
    counter_values: dict[object, str] = {}  # never holds a value that is invalid for a counter
    prefixes: list[str] = []
    skipped = 0
    # The loop is kept flat on purpose: it runs once per series and dominates cold renders. Values are
    # cached as their " value\n" tail, labels as their "{...}" text (activity repeats them per family).
    for sample in samples:
        family = families.get(sample.name)
        if family is None:
            spec = FAMILIES.get(sample.name)
            if spec is None:
                skipped += 1
                continue
            values = counter_values if spec.type is MetricType.COUNTER else gauge_values
            family = families[sample.name] = ([], spec.sample_name, values)
        lines, sample_name, values = family
        labels = sample.labels
        label_text = label_texts.get(labels)
        if label_text is None:
            label_text = label_texts[labels] = _label_text(labels)
        value = sample.value
        tail = values.get(value)
        if tail is None:
            try:
                number = float(value)  # producers sometimes hand in ints
            except (TypeError, ValueError):
                skipped += 1
                continue
            if values is counter_values and not number >= 0.0:
                skipped += 1
                continue
            tail = f" {format_value(number)}\n"
            if len(values) < _VALUE_CACHE_SIZE:
                values[value] = tail
        prefix = sample_name + label_text
        prefixes.append(prefix)
        lines.append(prefix + tail)
    return EncodedSnapshot(
        version=version,
        fragments={name: "".join(f[0]).encode("utf-8") for name, f in families.items() if f[0]},
        counts={name: len(f[0]) for name, f in families.items() if f[0]},
        hashes=series_hashes(prefixes) if hashed else array("q"),
        skipped=skipped,
    )


class FragmentsError(ValueError):
    """Stored fragments that this version cannot read (another layout, or damaged bytes)."""


def pack_fragments(encoded: EncodedSnapshot) -> bytes:
    """The stored form of an encoded snapshot (everything but its version, which the store assigns).

    Layout: magic, a 4-byte little-endian header length, a msgpack header ``(skipped, series,
    [(family, count, bytes), ...], [(label, value), ...] scope, unique)``, the series hashes (8 bytes
    each, as `series_hashes` lays them out), then the families' sample lines one after another in
    header order.
    """
    families = [(name, encoded.counts[name], len(data)) for name, data in encoded.fragments.items()]
    scope = sorted((encoded.scope or {}).items())
    header = msgspec.msgpack.encode((encoded.skipped, len(encoded.hashes), families, scope, encoded.unique))
    return b"".join(
        (
            _FRAGMENTS_MAGIC,
            len(header).to_bytes(4, "little"),
            header,
            encoded.hashes.tobytes(),
            *encoded.fragments.values(),
        )
    )


def snapshot_scope(samples: Iterable[Sample]) -> dict[str, str]:
    """Labels every sample carries, as name -> the value's escaped text (what the page shows).

    Two snapshots whose scopes give one label different values share no series: their lines differ in
    that label's text. Computed over every sample (skipped ones too), which can only leave labels out.
    """
    distinct = iter(set(map(_labels_of, samples)))
    first = next(distinct, None)
    if first is None:
        return {}
    common = set(first)
    for labels in distinct:
        common.intersection_update(labels)
        if not common:
            return {}
    names = [name for name, _ in common]
    # A label set naming one label twice is invalid; leave such a name out rather than pick a value.
    once = {name for name in names if names.count(name) == 1}
    return {name: _escape_label_value(value) for name, value in common if name in once}


def pack_snapshot(samples: Iterable[Sample]) -> bytes:
    """Encode samples once and pack them with their scope and uniqueness: what a store keeps next to a snapshot."""
    items = samples if isinstance(samples, list | tuple) else list(samples)
    encoded = encode_samples(items)
    unique = len(set(encoded.hashes)) == len(encoded.hashes)
    return pack_fragments(replace(encoded, scope=snapshot_scope(items), unique=unique))


def unpack_fragments(data: bytes, version: int) -> EncodedSnapshot:
    """Read bytes written by `pack_fragments` (this layout or the previous one); each family's sample
    lines are one slice of ``data`` (a copy, see `EncodedSnapshot`), nothing is decoded."""
    view = memoryview(data)
    start = len(_FRAGMENTS_MAGIC) + 4
    magic = bytes(view[: len(_FRAGMENTS_MAGIC)])
    if magic not in (_FRAGMENTS_MAGIC, _FRAGMENTS_MAGIC_V1) or len(view) < start:
        msg = "stored fragments: unknown layout"
        raise FragmentsError(msg)
    header_end = start + int.from_bytes(view[start - 4 : start], "little")
    scope: dict[str, str] | None = None
    unique = False
    try:
        if magic == _FRAGMENTS_MAGIC:
            skipped, series, families, scope_pairs, unique = _header_decoder.decode(view[start:header_end])
            scope = dict(scope_pairs)
        else:
            skipped, series, families = _header_decoder_v1.decode(view[start:header_end])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        msg = f"stored fragments: bad header: {exc}"
        raise FragmentsError(msg) from exc
    offset = header_end + 8 * series
    sizes = [size for _, _, size in families]
    if series < 0 or min(sizes, default=0) < 0 or offset + sum(sizes) != len(view):
        msg = "stored fragments: length does not match the header"
        raise FragmentsError(msg)
    hashes = array("q")
    hashes.frombytes(view[header_end:offset])
    fragments: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    for name, count, size in families:
        fragments[name] = data[offset : offset + size]
        counts[name] = count
        offset += size
    if sum(counts.values()) != series or any(name not in FAMILIES for name in fragments):
        msg = "stored fragments: families do not match the header"
        raise FragmentsError(msg)
    return EncodedSnapshot(version, fragments, counts, hashes, skipped, scope, unique)


def render(samples: Iterable[Sample], fmt: Format) -> bytes:
    """Render one complete page from samples (no cache); families sorted, OpenMetrics ends with # EOF."""
    encoded = encode_samples(samples, hashed=False)
    parts: list[bytes] = []
    for name in sorted(encoded.fragments):
        parts += (family_header(FAMILIES[name], fmt), encoded.fragments[name])
    if fmt is Format.OPENMETRICS:
        parts.append(EOF)
    return b"".join(parts)
