"""Content negotiation for `/metrics`: the exposition format from Accept, gzip from Accept-Encoding.

Header parsing here must never raise, whatever a client sends; it knows nothing about rendering.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum


class Format(Enum):
    """Exposition formats; the value is the Content-Type header to send."""

    OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    TEXT = "text/plain; version=0.0.4; charset=utf-8"

    @property
    def content_type(self) -> str:
        return self.value


def _header_items(header: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """Split an Accept-style header into (token, params, q); malformed parts get q=0, never an error."""
    for part in header.split(","):
        token, *raw_params = part.split(";")
        token = token.strip().lower()
        if not token:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for raw in raw_params:
            name, sep, value = raw.partition("=")
            if not sep:
                continue
            name, value = name.strip().lower(), value.strip().strip('"')
            if name != "q":
                params[name] = value
                continue
            try:
                q = float(value)
            except ValueError:
                q = 0.0
            if not 0.0 <= q <= 1.0:  # also false for NaN
                q = 0.0
        yield token, params, q


def negotiate(accept: str | None) -> Format:
    """Pick the format for an Accept header: OpenMetrics 1.0 when asked for at least as strongly as text."""
    if not accept:
        return Format.TEXT
    om_q = 0.0
    ranked: dict[str, float] = {}  # text/plain, text/* and */* by their best q
    for media, params, q in _header_items(accept):
        if media == "application/openmetrics-text":
            if params.get("version", "1.0.0") == "1.0.0":
                om_q = max(om_q, q)
        elif media in ("text/plain", "text/*", "*/*"):
            ranked[media] = max(ranked.get(media, 0.0), q)
    # The most specific range that matches text/plain decides its q (RFC 9110 §12.5.1).
    text_q = next((ranked[t] for t in ("text/plain", "text/*", "*/*") if t in ranked), 0.0)
    return Format.OPENMETRICS if om_q > 0.0 and om_q >= text_q else Format.TEXT


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when an Accept-Encoding header allows gzip (explicitly or through ``*``)."""
    if not accept_encoding:
        return False
    gzip_q: float | None = None
    star_q: float | None = None
    for coding, _, q in _header_items(accept_encoding):
        if coding in ("gzip", "x-gzip"):
            gzip_q = max(gzip_q or 0.0, q)
        elif coding == "*":
            star_q = max(star_q or 0.0, q)
    chosen = gzip_q if gzip_q is not None else star_q
    return chosen is not None and chosen > 0.0
