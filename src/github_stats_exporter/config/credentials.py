"""GitHub credential fields shared by `github.orgs[]` and `copilot.enterprise`: App or token.

Checks that exactly one method is configured and, when the load resolves secrets, reads the key or
token. The secret lives only in a private attribute and in a dataclass whose repr hides it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field, PrivateAttr, StrictInt

from github_stats_exporter.config.problems import ConfigProblem
from github_stats_exporter.config.secrets import (
    AppCredentials,
    Credentials,
    LoadContext,
    SecretSourceError,
    TokenCredentials,
    UnresolvedSecretError,
    rsa_pem_from,
    token_from,
)
from github_stats_exporter.config.section import EnvName, Section, Text

AuthMethod = Literal["app", "token", "none"]
_NO_METHOD = (
    "no credentials; set app_id, installation_id and private_key_path (or private_key_env) for "
    "GitHub App auth, or token_env / token_file for token auth"
)


class CredentialFields(Section):
    """GitHub App fields (app_id, installation_id, a key source) or a token source; 0 and "" mean unset."""

    app_id: Annotated[StrictInt, Field(ge=0)] = 0
    installation_id: Annotated[StrictInt, Field(ge=0)] = 0
    private_key_path: Text = ""
    private_key_env: EnvName = ""
    token_env: EnvName = ""
    token_file: Text = ""

    _credentials: Credentials | None = PrivateAttr(default=None)

    @property
    def auth_method(self) -> AuthMethod:
        """Which method the fields describe (known even when secrets were not resolved)."""
        if self.token_env or self.token_file:
            return "token"
        if self.app_id or self.installation_id or self.private_key_path or self.private_key_env:
            return "app"
        return "none"

    @property
    def credentials(self) -> Credentials:
        """The resolved App key or token; raises if the config was loaded without resolving secrets."""
        if self._credentials is None:
            msg = "credentials were not resolved (the config was loaded with resolve_secrets=False)"
            raise UnresolvedSecretError(msg)
        return self._credentials

    def _credential_problems(self, ctx: LoadContext, prefix: str = "") -> list[ConfigProblem]:
        """Shape rules for the credential fields; resolves the secret when the shape is right."""
        problems = self._shape_problems(prefix)
        if problems or not ctx.resolve_secrets:
            return problems
        try:
            self._credentials = self._resolve(ctx)
        except _SourceProblem as exc:
            return [ConfigProblem(prefix + exc.field, getattr(self, exc.field), str(exc))]
        return []

    def _shape_problems(self, prefix: str) -> list[ConfigProblem]:
        app_fields = [
            name
            for name in ("app_id", "installation_id", "private_key_path", "private_key_env")
            if getattr(self, name)
        ]
        token_fields = [name for name in ("token_env", "token_file") if getattr(self, name)]
        if app_fields and token_fields:
            first = token_fields[0]
            return [
                ConfigProblem(
                    prefix + first,
                    getattr(self, first),
                    f"cannot be combined with GitHub App fields ({', '.join(app_fields)}); "
                    "choose App auth or token auth",
                )
            ]
        if len(token_fields) > 1:
            return [
                ConfigProblem(prefix + "token_file", self.token_file, "set token_env or token_file, not both")
            ]
        if token_fields:
            return []
        if not app_fields:
            return [ConfigProblem(prefix.rstrip("."), None, _NO_METHOD)]
        problems: list[ConfigProblem] = [
            ConfigProblem(prefix + name, 0, "is required for GitHub App auth (a positive integer)")
            for name in ("app_id", "installation_id")
            if not getattr(self, name)
        ]
        if self.private_key_path and self.private_key_env:
            problems.append(
                ConfigProblem(
                    prefix + "private_key_env",
                    self.private_key_env,
                    "set private_key_path or private_key_env, not both",
                )
            )
        elif not (self.private_key_path or self.private_key_env):
            problems.append(
                ConfigProblem(
                    prefix + "private_key_path",
                    "",
                    "is required for GitHub App auth: a PEM file, or name a variable holding the PEM in private_key_env",
                )
            )
        return problems

    def _resolve(self, ctx: LoadContext) -> Credentials:
        if self.token_env:
            return TokenCredentials(
                _read(lambda: token_from(ctx.env(self.token_env), f"${self.token_env}"), "token_env")
            )
        if self.token_file:
            return TokenCredentials(
                _read(lambda: token_from(ctx.file(self.token_file), repr(self.token_file)), "token_file")
            )
        if self.private_key_env:
            pem = _read(
                lambda: rsa_pem_from(ctx.env(self.private_key_env), f"${self.private_key_env}"),
                "private_key_env",
            )
        else:
            pem = _read(
                lambda: rsa_pem_from(ctx.file(self.private_key_path), repr(self.private_key_path)),
                "private_key_path",
            )
        return AppCredentials(app_id=self.app_id, installation_id=self.installation_id, private_key_pem=pem)


class _SourceProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _read(read: Callable[[], str], field: str) -> str:
    try:
        return read()
    except SecretSourceError as exc:
        raise _SourceProblem(field, str(exc)) from exc
