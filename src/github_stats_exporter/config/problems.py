"""Configuration problems: what went wrong, where (field path) and what is allowed.

Translates pydantic's validation errors into `ConfigProblem`s. It never prints a secret: values of
secret-bearing fields are replaced by a placeholder before they reach a message.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from github_stats_exporter.config.duration import format_duration
from github_stats_exporter.errors import ExporterError

REDACTED = "<redacted>"
# Last path components whose values are secrets (passwords, URLs with credentials, tokens).
SECRET_KEYS = frozenset({"redis_password", "url", "token", "private_key", "password"})
RULES_ERROR = "config_rules"
_MAX_SHOWN = 80
_SHAPE_ERRORS = frozenset({"model_type", "dict_type", "model_attributes_type"})


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One reason the configuration is unusable; `path` is like `github.orgs[1].scrape_interval`."""

    path: str
    value: object
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ExporterError):
    """The configuration cannot be used; `problems` lists every reason, not just the first."""

    transient = False

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{count} configuration problem{'s' if count != 1 else ''}:\n{lines}")


def join_path(base: str, child: str) -> str:
    """Join `github.orgs[1]` with `scrape_interval` or `[2]`; either side may be empty."""
    if not base:
        return child
    if not child:
        return base
    return f"{base}{child}" if child.startswith("[") else f"{base}.{child}"


def format_loc(loc: Iterable[int | str]) -> str:
    """Turn a pydantic location tuple into a dotted field path with list indexes."""
    path = ""
    for part in loc:
        path = join_path(path, f"[{part}]" if isinstance(part, int) else str(part))
    return path


def show(value: object) -> str:
    """Render a value for a message: durations as text, long values shortened."""
    text = format_duration(value) if isinstance(value, timedelta) else repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def is_secret_path(path: str) -> bool:
    return path.rsplit(".", 1)[-1] in SECRET_KEYS


def translate(error: ValidationError, root: type[BaseModel]) -> list[ConfigProblem]:
    """Every pydantic error of validating `root` as a ConfigProblem, in document order."""
    problems: list[ConfigProblem] = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = format_loc(loc)
        ctx = item.get("ctx") or {}
        if item["type"] == RULES_ERROR:
            problems.extend(
                ConfigProblem(join_path(path, p.path), p.value, p.message) for p in ctx["problems"]
            )
            continue
        value = item["input"]
        if is_secret_path(path):
            value = REDACTED
        message = _message(item["type"], value, ctx, loc, root, item["msg"])
        if item["type"] == "extra_forbidden":
            # The value of a mistyped key (redis_pasword) is often a secret; the key name is what matters.
            value = str(loc[-1]) if loc else value
        elif item["type"] in _SHAPE_ERRORS:
            # A mis-shaped section may still carry passwords; keep only its type.
            value = f"<{type(value).__name__}>"
        problems.append(ConfigProblem(path, value, message))
    return problems


def _message(
    kind: str,
    value: Any,
    ctx: dict[str, Any],
    loc: tuple[int | str, ...],
    root: type[BaseModel],
    fallback: str,
) -> str:
    shown = show(value)
    if kind == "missing":
        field = _field_at(loc, root)
        return f"is required; {field.description}" if field and field.description else "is required"
    if kind == "extra_forbidden":
        return _unknown_key(loc, root)
    if kind == "value_error":
        return str(ctx.get("error", fallback))
    if kind == "literal_error":
        return f"{shown} is not allowed; use one of {ctx['expected']}"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return f"{shown} is not a whole number"
    if kind in {"bool_type", "bool_parsing"}:
        return f"{shown} is not a boolean; use true or false"
    if kind in {"string_type", "string_unicode"}:
        return f"{shown} is not text; quote it"
    if kind in {"list_type", "tuple_type", "iterable_type"}:
        return f"{shown} is not a list; write [a, b] or one '- item' per line"
    if kind in _SHAPE_ERRORS:
        return _not_a_mapping(value, loc, root)
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"{shown} {_bounds(loc, root, ctx)}"
    return f"{shown}: {fallback}"


def _not_a_mapping(value: object, loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    model = _model_at(loc, root)
    keys = ", ".join(model.model_fields) if model else ""
    # Never echo the input: a mis-indented section may still carry passwords.
    got = type(value).__name__
    if not loc:
        return f"the configuration must be a mapping of sections ({keys}), got {got}"
    return f"must be a mapping with keys such as {keys}, got {got}"


def _unknown_key(loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    model = _model_at(loc[:-1], root)
    if model is None:
        return "is not a known key"
    allowed = list(model.model_fields)
    key = str(loc[-1])
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{key!r} is not a known key (allowed here: {', '.join(allowed)}){hint}"


def _bounds(loc: tuple[int | str, ...], root: type[BaseModel], ctx: dict[str, Any]) -> str:
    field = _field_at(loc, root)
    low = high = None
    if field is not None:
        for item in field.metadata:
            if isinstance(item, annotated_types.Ge):
                low = item.ge
            elif isinstance(item, annotated_types.Le):
                high = item.le
    if low is not None and high is not None:
        return f"is out of range; allowed: {low} to {high}"
    if "ge" in ctx:
        return f"is too small; the minimum is {ctx['ge']}"
    if "le" in ctx:
        return f"is too large; the maximum is {ctx['le']}"
    if "gt" in ctx:
        return f"must be greater than {ctx['gt']}"
    return f"must be less than {ctx.get('lt')}"


def _field_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> FieldInfo | None:
    if not loc or not isinstance(loc[-1], str):
        return None
    model = _model_at(loc[:-1], root)
    return model.model_fields.get(loc[-1]) if model else None


def _model_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class that validates the value at `loc`, if the location names one."""
    current: object = root
    for part in loc:
        if isinstance(part, int):
            current = _item_type(current)
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _item_type(annotation: object) -> object:
    origin = typing.get_origin(annotation)
    if origin in {tuple, list, types.GenericAlias}:
        args = typing.get_args(annotation)
        return args[0] if args else None
    return None
