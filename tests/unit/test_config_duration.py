"""Duration text: Go syntax plus days and weeks, and the compact form we print."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from github_stats_exporter.config import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("0", timedelta(0), id="bare-zero"),
        pytest.param("0s", timedelta(0), id="zero-seconds"),
        pytest.param("500ms", timedelta(milliseconds=500), id="milliseconds"),
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param("5m", timedelta(minutes=5), id="minutes"),
        pytest.param("24h", timedelta(hours=24), id="hours"),
        pytest.param("1h30m", timedelta(hours=1, minutes=30), id="compound"),
        pytest.param("1.5h", timedelta(hours=1, minutes=30), id="fractional-hours"),
        pytest.param(".5s", timedelta(milliseconds=500), id="leading-dot"),
        pytest.param("1.s", timedelta(seconds=1), id="trailing-dot"),
        pytest.param("7d", timedelta(days=7), id="days"),
        pytest.param("2w", timedelta(days=14), id="weeks"),
        pytest.param(
            "1w2d3h4m5s6ms", timedelta(days=9, hours=3, minutes=4, seconds=5, milliseconds=6), id="all-units"
        ),
        pytest.param("-5m", timedelta(minutes=-5), id="negative"),
        pytest.param("+5m", timedelta(minutes=5), id="plus-sign"),
        pytest.param(" 30s ", timedelta(seconds=30), id="surrounding-space"),
        pytest.param("0.0001ms", timedelta(0), id="below-microsecond-rounds"),
    ],
)
def test_parse_duration_accepts_go_syntax_days_and_weeks(text: str, expected: timedelta) -> None:
    """Valid duration text parses to the exact timedelta."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("5", id="bare-number"),
        pytest.param("1.5", id="bare-float"),
        pytest.param("5x", id="unknown-unit"),
        pytest.param("5 m", id="inner-space"),
        pytest.param("m5", id="unit-first"),
        pytest.param("5mm", id="doubled-unit"),
        pytest.param("1h-5m", id="inner-sign"),
        pytest.param("5us", id="microseconds-not-offered"),
        pytest.param("five minutes", id="words"),
        pytest.param("--5m", id="double-sign"),
    ],
)
def test_parse_duration_rejects_garbage_with_a_hint(text: str) -> None:
    """Malformed text raises ValueError quoting the input and listing the units."""
    with pytest.raises(
        ValueError, match="is not a duration; use a number followed by ms, s, m, h, d or w"
    ) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


def test_parse_duration_rejects_overflow() -> None:
    """A duration beyond timedelta's range is a clear error, not an OverflowError."""
    with pytest.raises(ValueError, match="too long"):
        parse_duration("9999999999w")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(timedelta(0), "0s", id="zero"),
        pytest.param(timedelta(milliseconds=500), "500ms", id="milliseconds"),
        pytest.param(timedelta(seconds=1.5), "1.5s", id="fractional-seconds"),
        pytest.param(timedelta(hours=1, minutes=30), "1h30m", id="compound"),
        pytest.param(timedelta(days=30), "30d", id="days"),
        pytest.param(timedelta(minutes=-5), "-5m", id="negative"),
        pytest.param(timedelta(microseconds=7), "0.000007s", id="microseconds"),
    ],
)
def test_format_duration_is_compact(value: timedelta, expected: str) -> None:
    """Durations print the way people write them in the config."""
    assert format_duration(value) == expected


def _go_style(value: timedelta) -> str:
    """Format like Go's time.Duration.String(): hours, minutes, fractional seconds."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, fraction = divmod(rest, 1_000_000)
    text = f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".")
    return f"{sign}{hours}h{minutes}m{text}s"


_TIMEDELTAS = st.timedeltas(min_value=timedelta(days=-100_000), max_value=timedelta(days=100_000))


@given(_TIMEDELTAS)
def test_go_style_text_round_trips(value: timedelta) -> None:
    """Any timedelta written as Go's Duration.String() parses back to itself."""
    assert parse_duration(_go_style(value)) == value


@given(_TIMEDELTAS)
def test_format_duration_round_trips(value: timedelta) -> None:
    """Our compact rendering parses back to the same timedelta."""
    assert parse_duration(format_duration(value)) == value


@given(st.text(alphabet="0123456789.+-smhdwxyz µ", max_size=12))
def test_parse_duration_either_parses_or_explains(text: str) -> None:
    """Arbitrary short strings either parse or raise ValueError naming the input; nothing else escapes."""
    try:
        parse_duration(text)
    except ValueError as exc:
        message = str(exc)
    else:
        return
    assert repr(text) in message
