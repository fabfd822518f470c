"""The base of every config section and the field types they share (durations, names, addresses).

A section validates its own fields; its cross-field rules return problems instead of raising the
first one, so a load reports everything that is wrong. No I/O happens here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from github_stats_exporter.config.duration import DURATION_HINT, format_duration, parse_duration
from github_stats_exporter.config.problems import RULES_ERROR, ConfigProblem, show
from github_stats_exporter.config.secrets import LoadContext

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):(?P<port>\d{1,5})")


class Section(BaseModel):
    """A strict, immutable config section: unknown keys are errors, rules report all violations."""

    # hide_input_in_errors: a raw ValidationError (direct construction) must not print a password.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    @model_validator(mode="after")
    def _apply_rules(self, info: ValidationInfo) -> Self:
        ctx = info.context if isinstance(info.context, LoadContext) else LoadContext.from_process()
        problems = self._check(ctx)
        if problems:
            raise PydanticCustomError(
                RULES_ERROR, "{count} rule(s) violated", {"count": len(problems), "problems": tuple(problems)}
            )
        self._finish(ctx)
        return self

    def _check(self, ctx: LoadContext) -> list[ConfigProblem]:
        """Cross-field rules and secret resolution; paths are relative to this section."""
        del ctx
        return []

    def _finish(self, ctx: LoadContext) -> None:
        """Coercions applied once every rule holds; each one that changes a value adds a notice."""
        del ctx

    def _coerce(self, name: str, value: object) -> None:
        """Replace a field value during validation, before anyone else can see this instance."""
        # Frozen models keep field values in __dict__; writing there is how pydantic builds them too.
        object.__setattr__(self, name, value)


def _scalar_text(value: object) -> object:
    # YAML reads `slug: 12345` as a number; the Go exporter accepts it as text, so do we.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _duration_validator(*, positive: bool) -> Callable[[object], timedelta]:
    def validate(value: object) -> timedelta:
        if isinstance(value, timedelta):
            parsed = value
        elif isinstance(value, str):
            parsed = parse_duration(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if value != 0:
                msg = f"{value!r} has no unit; {DURATION_HINT}"
                raise ValueError(msg)
            parsed = timedelta(0)
        else:
            msg = f"{show(value)} is not a duration; {DURATION_HINT}"
            raise ValueError(msg)
        if parsed < timedelta(0):
            msg = f"{show(value)} is negative; durations cannot be negative"
            raise ValueError(msg)
        if positive and parsed == timedelta(0):
            msg = f"{show(value)} must be longer than 0"
            raise ValueError(msg)
        return parsed

    return validate


def _env_name(value: str) -> str:
    if value and not _ENV_NAME.fullmatch(value):
        msg = f"{value!r} is not an environment variable name; use letters, digits and _ (e.g. GITHUB_TOKEN)"
        raise ValueError(msg)
    return value


def _host_port(value: str) -> str:
    match = _HOST_PORT.fullmatch(value)
    if match is None or int(match["port"]) > 65535:
        msg = f"{value!r} is not host:port (e.g. redis:6379, 127.0.0.1:6379, :8080)"
        raise ValueError(msg)
    return value


def as_tuple(value: object) -> object:
    """YAML lists become tuples so frozen sections hold immutable sequences."""
    return tuple(value) if isinstance(value, list) else value


def check_http_url(value: str, *, example: str) -> str:
    """Accept an http(s) URL with a host; the message shows `example` as the expected shape."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        msg = f"{value!r} is not an http(s) URL; write it like https://{example}"
        raise ValueError(msg)
    return value


def _secret_text(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_scalar_text)]
EnvName = Annotated[str, BeforeValidator(_scalar_text), AfterValidator(_env_name)]
HostPort = Annotated[str, BeforeValidator(_scalar_text), AfterValidator(_host_port)]
Duration = Annotated[timedelta, BeforeValidator(_duration_validator(positive=False))]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration_validator(positive=True))]
Secret = Annotated[SecretStr, BeforeValidator(_secret_text)]
Flag = StrictBool
Count = Annotated[StrictInt, Field(ge=0)]
TextList = Annotated[tuple[Text, ...], BeforeValidator(as_tuple)]
DurationList = Annotated[tuple[PositiveDuration, ...], BeforeValidator(as_tuple)]


def duration_text(value: timedelta) -> str:
    """A duration as users write it, for messages and notices."""
    return format_duration(value)
