"""Config values that are accepted but have no effect, and the warnings that say so.

One list (`INERT_KEYS`) names every key this exporter validates and then never reads, with the
reason it is still accepted; `config_warnings(settings)` turns the ones the user set into warnings
for `check-config` (printed) and for start-up (logged once). A half-configured `amqp` section is
reported here too: it is accepted like in the Go exporter, but RabbitMQ is not used.

A key counts as set when it is present in the file with a value other than its default, so a Go
config that spells out the defaults stays quiet. Nothing here reads files or logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from github_stats_exporter.config.problems import show
from github_stats_exporter.config.schema import Settings

_GO_ONLY = "kept for Go exporter compatibility; this exporter does not use it"


@dataclass(frozen=True, slots=True)
class InertKey:
    """A config key that is validated and then ignored, and why it is still accepted."""

    path: str
    reason: str


INERT_KEYS: tuple[InertKey, ...] = (
    InertKey("metrics.topology", f"{_GO_ONLY} (one topology exists)"),
    InertKey("metrics.scrape_service_dns", f"{_GO_ONLY} (informational in Go too)"),
    InertKey("loc.source", f"{_GO_ONLY} (contributor statistics are the only source)"),
    InertKey("store.index_shards", f"{_GO_ONLY} (the Redis store keeps one index hash, not shards)"),
    InertKey(
        "store.export_cache_mode",
        f"{_GO_ONLY} (the page cache always re-renders only the changed snapshots)",
    ),
)


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """A value that is accepted but does not do what its name suggests; `key` is the dotted path."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def _set_value(settings: Settings, path: str) -> tuple[bool, object]:
    """Whether the key at `path` was given in the file with a non-default value, and that value."""
    model: BaseModel = settings
    *sections, name = path.split(".")
    for section in sections:
        if section not in model.model_fields_set:
            return False, None
        model = getattr(model, section)
    if name not in model.model_fields_set:
        return False, None
    value = getattr(model, name)
    default = type(model).model_fields[name].get_default(call_default_factory=True)
    return value != default, value


def _amqp_warning(settings: Settings) -> ConfigWarning | None:
    amqp = settings.amqp
    if not amqp.ignored:
        return None
    given = "amqp.exchange is set" if amqp.exchange else "amqp.url (or url_env) is set"
    missing = "amqp.url and url_env are empty" if amqp.exchange else "amqp.exchange is empty"
    return ConfigWarning(
        "amqp",
        f"{given} but {missing}: RabbitMQ needs both (as in the Go exporter), so backfill uses the "
        "in-process queue",
    )


def config_warnings(settings: Settings) -> list[ConfigWarning]:
    """One warning per inert key set in the file, plus a half-configured amqp section, in list order."""
    warnings: list[ConfigWarning] = []
    for key in INERT_KEYS:
        is_set, value = _set_value(settings, key.path)
        if is_set:
            warnings.append(ConfigWarning(key.path, f"{show(value)} has no effect: {key.reason}"))
    amqp = _amqp_warning(settings)
    if amqp is not None:
        warnings.append(amqp)
    return warnings
