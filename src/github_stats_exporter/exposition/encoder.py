"""Samples to exposition bytes: label escaping, family metadata lines and per-family sample fragments.

Pure functions over the metric contract; no I/O, no caching beyond the per-family header bytes.
Sample lines are identical in OpenMetrics 1.0 and Prometheus text 0.0.4, so they are encoded once.
"""

from __future__ import annotations

import functools
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from github_stats_exporter.exposition.negotiation import Format
from github_stats_exporter.metrics import FAMILIES, MetricSpec, MetricType
from github_stats_exporter.model import Labels, Sample, format_value

EOF = b"# EOF\n"
_VALUE_CACHE_SIZE = 4096


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

    ``hashes`` holds ``hash()`` of every series identity (sample name plus labels) so the cache can spot
    a series that two snapshots both claim without keeping the identities themselves.
    """

    version: int
    fragments: dict[str, bytes]
    counts: dict[str, int]
    hashes: array[int]
    skipped: int


def encode_samples(samples: Iterable[Sample], version: int = 0) -> EncodedSnapshot:
    """Encode samples into per-family fragments, in the order given.

    Samples of an unknown family, with a non-numeric value, or with a negative/NaN counter value are
    skipped and counted, so one bad sample never fails a page.
    """
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
        hashes=array("q", map(hash, prefixes)),
        skipped=skipped,
    )


def render(samples: Iterable[Sample], fmt: Format) -> bytes:
    """Render one complete page from samples (no cache); families sorted, OpenMetrics ends with # EOF."""
    encoded = encode_samples(samples)
    parts: list[bytes] = []
    for name in sorted(encoded.fragments):
        parts += (family_header(FAMILIES[name], fmt), encoded.fragments[name])
    if fmt is Format.OPENMETRICS:
        parts.append(EOF)
    return b"".join(parts)
