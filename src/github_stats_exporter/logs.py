"""Structured logging: JSON (or console) lines on stderr, with secrets redacted from every event.

`configure_logging` routes structlog and the stdlib root logger through the same processors;
`redact` strips tokens, JWTs and signed URL query strings from a value. This module only formats
log output: it keeps no metrics and never decides what to log.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|private_key|signature|jwt)", re.IGNORECASE)
_SECRET_VALUES = re.compile(r"(gh[pousr]_[A-Za-z0-9_]{10,}|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_.-]+)")
_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")


def redact(value: Any) -> Any:
    """Strip secrets from a log value: tokens, JWTs and URL query strings (signed URLs)."""
    if isinstance(value, str):
        return _QUERY.sub(r"\1?<redacted>", _SECRET_VALUES.sub("<redacted>", value))
    return value


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if _SECRET_KEYS.search(key) and key != "event":
            event[key] = "<redacted>"
        else:
            event[key] = redact(event[key])
    return event


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at write time (test runners and daemons swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route structlog and the stdlib root logger to stderr as JSON (or console) lines."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_event,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)
