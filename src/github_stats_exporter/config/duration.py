"""Duration text in the Go exporter's syntax (`1h30m`, `500ms`, `1.5h`) plus days and weeks.

Parsing and formatting only; which durations a field accepts (zero, negative) is decided by the
schema, not here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

DURATION_HINT = "use a number followed by ms, s, m, h, d or w (e.g. 30s, 5m, 7d)"

# Microseconds per unit; timedelta cannot hold finer values, so Go's ns/us units are not offered.
_UNIT_MICROSECONDS: dict[str, int] = {
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 604_800_000_000,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ms|s|m|h|d|w))+")
_ZERO = re.compile(r"[-+]?0")


def parse_duration(text: str) -> timedelta:
    """Parse `90s`, `1h30m`, `1.5h`, `7d`, `2w`, `-5m` or `0`; a bare number other than 0 is rejected."""
    stripped = text.strip()
    if _ZERO.fullmatch(stripped):
        return timedelta(0)
    if not _WHOLE.fullmatch(stripped):
        msg = f"{text!r} is not a duration; {DURATION_HINT}"
        raise ValueError(msg)
    total = Decimal(0)
    for number, unit in _PART.findall(stripped):
        try:
            total += Decimal(number) * _UNIT_MICROSECONDS[unit]
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimal digits
            msg = f"{text!r} is not a duration; {DURATION_HINT}"
            raise ValueError(msg) from exc
    if stripped.startswith("-"):
        total = -total
    try:
        return timedelta(microseconds=int(total.to_integral_value()))
    except OverflowError as exc:
        msg = f"{text!r} is too long a duration (the limit is about 2.7 million years)"
        raise ValueError(msg) from exc


def format_duration(value: timedelta) -> str:
    """Render a timedelta compactly (`30d`, `1h30m`, `1.5s`, `500ms`) so that parse_duration reads it back."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    if micros < 1_000_000 and micros % 1_000 == 0:
        return f"{sign}{micros // 1_000}ms"
    parts: list[str] = []
    for unit in ("d", "h", "m"):
        count, micros = divmod(micros, _UNIT_MICROSECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    if micros:
        seconds, fraction = divmod(micros, 1_000_000)
        text = f"{seconds}.{fraction:06d}".rstrip("0").rstrip(".") if fraction else str(seconds)
        parts.append(f"{text}s")
    return sign + "".join(parts)
