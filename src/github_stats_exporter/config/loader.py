"""Loading the configuration: YAML file → validated, secret-resolved, coerced `Settings`.

All problems of one load are raised together as a `ConfigError`. The loader reads only the config
file and, when asked to, the secret sources it names; it never logs or prints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from github_stats_exporter.config.problems import ConfigError, ConfigProblem, translate
from github_stats_exporter.config.schema import Settings
from github_stats_exporter.config.secrets import LoadContext


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys instead of silently keeping the last one (as Go's yaml.v3)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                first = seen[key].start_mark.line + 1
                mark = key_node.start_mark
                self.duplicates.append(
                    f"line {mark.line + 1}, column {mark.column + 1}: key {key!r} appears twice in one mapping "
                    f"(first on line {first}); remove one"
                )
            else:
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_config(
    path: str | Path, *, environ: Mapping[str, str] | None = None, resolve_secrets: bool = True
) -> Settings:
    """Read, validate and resolve the YAML config at `path`; raises ConfigError listing every problem.

    With resolve_secrets=False no environment variable or secret file is read (credential fields are
    checked for shape only), which lets `check-config` run where the secrets are not mounted.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem("", str(file), f"{file}: config file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            [ConfigProblem("", str(file), f"{file}: cannot read the config file: {detail}")]
        ) from None
    data = _parse_yaml(text, file)
    return parse_config(
        data, environ=environ, base_dir=file.parent.resolve(), resolve_secrets=resolve_secrets
    )


def parse_config(
    data: object,
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    resolve_secrets: bool = True,
) -> Settings:
    """Validate an already-parsed config object; relative secret file paths resolve against base_dir."""
    ctx = LoadContext(
        environ=os.environ if environ is None else environ, base_dir=base_dir, resolve_secrets=resolve_secrets
    )
    try:
        settings = Settings.model_validate(data, context=ctx)
    except ValidationError as exc:
        raise ConfigError(translate(exc, Settings)) from None
    settings._notices = tuple(ctx.notices)
    return settings


def _parse_yaml(text: str, file: Path) -> object:
    loader = _StrictLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = exc.problem or "invalid YAML"
        raise ConfigError([ConfigProblem("", str(file), f"{file}: {where}invalid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem("", str(file), f"{file}: invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError(
            [ConfigProblem("", str(file), f"{file}: {message}") for message in loader.duplicates]
        )
    return data
