"""Process-local self-metrics and structured logging setup.

`SelfMetrics` keeps counters and gauges declared in `metrics.py` and hands them to the renderer as
samples. It never talks to the store or the network, and it never stores secrets in labels.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from github_stats_exporter.metrics import MetricSpec, MetricType
from github_stats_exporter.model import Labels, Sample


class SelfMetrics:
    """Counters and gauges of this process, keyed by (family, labels).

    Counters only ever go up; `set` on a counter is refused so a `_total` series stays monotonic.
    Thread-safe because the renderer may read from a worker thread while the loop writes.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, Labels], float] = {}
        self._lock = threading.Lock()
        self._generation = 0

    @property
    def generation(self) -> int:
        """Changes whenever a value changes; lets a cache skip rebuilding self-metric lines."""
        return self._generation

    def inc(self, spec: MetricSpec, labels: Mapping[str, str] | None = None, amount: float = 1.0) -> None:
        if amount < 0:
            msg = f"{spec.name}: counters cannot decrease (amount={amount})"
            raise ValueError(msg)
        key = self._key(spec, labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount
            self._generation += 1

    def set(self, spec: MetricSpec, labels: Mapping[str, str] | None = None, value: float = 0.0) -> None:
        if spec.type is MetricType.COUNTER:
            msg = f"{spec.name} is a counter; use inc()"
            raise TypeError(msg)
        key = self._key(spec, labels)
        with self._lock:
            if self._values.get(key) != value:
                self._values[key] = value
                self._generation += 1

    def remove(self, spec: MetricSpec, labels: Mapping[str, str] | None = None) -> None:
        key = self._key(spec, labels)
        with self._lock:
            if self._values.pop(key, None) is not None:
                self._generation += 1

    def value(self, spec: MetricSpec, labels: Mapping[str, str] | None = None) -> float:
        """Current value (0 when never touched); mainly for tests and health decisions."""
        with self._lock:
            return self._values.get(self._key(spec, labels), 0.0)

    def samples(self) -> tuple[Sample, ...]:
        with self._lock:
            return tuple(Sample(name, labels, value) for (name, labels), value in self._values.items())

    @staticmethod
    def _key(spec: MetricSpec, labels: Mapping[str, str] | None) -> tuple[str, Labels]:
        sample = spec.sample(0.0, labels)  # validates the label set against the contract
        return sample.name, sample.labels


# --- logging ------------------------------------------------------------------------------------

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
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)
