"""Traces of our own work: the small port instrumentation points use, its no-op, and who starts it.

Instrumentation (GitHub requests, Copilot downloads, store writes, collection cycles, backfill jobs)
only sees `Tracing`: ``span(name, attributes)`` opens a span around a block, ``parent()`` gives the
current span as a W3C ``traceparent`` value (what a backfill job carries in its message headers) and
``span(..., parent=...)`` continues such a context. `start_tracing` is the one place that decides,
from the ``telemetry`` config section, whether OpenTelemetry is used at all: when it is off nothing
of the SDK is imported or created and every span is a shared no-op object. `OtelTracing` (in
`otel_tracing.py`) is the real implementation; `close()` flushes and stops it (docs/tracing.md).

This module must not import the OpenTelemetry SDK at import time, and callers must never put URLs
with query strings, tokens or other secrets into attributes (route templates and hosts only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from github_stats_exporter.config.schema import TelemetryConfig

Attribute = str | int | float | bool
Attributes = Mapping[str, Attribute]

TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
"""A W3C ``traceparent`` of version 00 (what `Tracing.parent` returns and `span(parent=...)` accepts)."""


class Span(Protocol):
    """An open span: attributes may be added until it ends."""

    def set(self, key: str, value: Attribute) -> None: ...


class Tracing(Protocol):
    """Where spans go. ``enabled`` is False for the no-op, so a caller can skip preparing attributes."""

    @property
    def enabled(self) -> bool: ...

    def span(
        self,
        name: str,
        attributes: Attributes | None = None,
        *,
        parent: str = "",
        child_only: bool = False,
    ) -> AbstractContextManager[Span]:
        """A span around a ``with`` block, child of the current span (or of ``parent``, a traceparent).

        ``child_only`` spans are skipped when no recorded span is open: a store write or a GitHub request
        outside a collection cycle or backfill job (page refresh, probe) must not start a trace of its
        own, and inside an unsampled cycle it would not be sampled either, so it costs nothing. An
        exception leaving the block marks the span as failed with the exception's type name only
        (exception messages can hold URLs, so they are never recorded).
        """
        ...

    def parent(self) -> str:
        """The current span as a ``traceparent`` header value; "" when none is open or tracing is off."""
        ...

    async def close(self) -> None:
        """Export what is buffered and stop (the lifecycle calls it once, at exit)."""
        ...


class _NoSpan:
    __slots__ = ()

    def set(self, key: str, value: Attribute) -> None:
        pass


class _NoScope:
    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return _NO_SPAN

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


_NO_SPAN = _NoSpan()
_NO_SCOPE = _NoScope()


class NoTracing:
    """Tracing switched off: every span is the same shared no-op object, nothing is recorded."""

    __slots__ = ()

    @property
    def enabled(self) -> bool:
        return False

    def span(
        self,
        name: str,
        attributes: Attributes | None = None,
        *,
        parent: str = "",
        child_only: bool = False,
    ) -> AbstractContextManager[Span]:
        return _NO_SCOPE

    def parent(self) -> str:
        return ""

    async def close(self) -> None:
        return None


NO_TRACING: Tracing = NoTracing()


def start_tracing(config: TelemetryConfig, *, service_version: str) -> Tracing:
    """`NO_TRACING` unless ``otel_enabled`` is true and the mode is not ``off``; else an OTLP/HTTP tracer.

    The SDK is imported here, only when it is used (docs/tracing.md, "Modes").
    """
    if config.effective_trace_mode == "off":
        return NO_TRACING
    # Imported here so that a process with tracing off never loads the SDK.
    from github_stats_exporter.otel_tracing import OtelTracing

    return OtelTracing.from_config(config, service_version=service_version)
