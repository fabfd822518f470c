"""Reading secrets at load time: environment variables, files and PEM private keys.

Every failure is a `SecretSourceError` whose message names the source (variable or file), never
its content. Nothing here keeps a secret anywhere but in the returned value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# Keys and tokens are a few KiB at most; a bigger file is a wrong path, not a secret.
_MAX_SECRET_BYTES = 64 * 1024


class SecretSourceError(ValueError):
    """A secret could not be read or is not in the expected form."""


class UnresolvedSecretError(RuntimeError):
    """A secret was asked for, but the configuration was loaded with resolve_secrets=False."""


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """A GitHub App installation: the key signs JWTs that are exchanged for installation tokens."""

    app_id: int
    installation_id: int
    private_key_pem: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TokenCredentials:
    """A personal access token (classic or fine-grained) or any other bearer token."""

    token: str = field(repr=False)


Credentials = AppCredentials | TokenCredentials


@dataclass(slots=True)
class LoadContext:
    """Where secrets come from during one load, and the notices that load produced."""

    environ: Mapping[str, str]
    base_dir: Path | None = None
    resolve_secrets: bool = True
    notices: list[str] = field(default_factory=list)

    @classmethod
    def from_process(cls) -> LoadContext:
        """The context used when a model is built directly rather than through the loader."""
        return cls(environ=os.environ)

    def env(self, name: str) -> str:
        """The non-empty value of environment variable `name`."""
        value = self.environ.get(name)
        if value is None:
            msg = f"environment variable {name} is not set"
            raise SecretSourceError(msg)
        if not value.strip():
            msg = f"environment variable {name} is empty"
            raise SecretSourceError(msg)
        return value

    def file(self, text: str) -> bytes:
        """The bytes of the file at `text`, relative paths taken from the config file's folder."""
        path = Path(text).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        try:
            if path.is_dir():
                msg = f"cannot read {text!r}: it is a directory"
                raise SecretSourceError(msg)
            size = path.stat().st_size
            if size > _MAX_SECRET_BYTES:
                msg = f"cannot read {text!r}: {size} bytes is too large for a key or token file"
                raise SecretSourceError(msg)
            return path.read_bytes()
        except FileNotFoundError as exc:
            msg = f"cannot read {text!r}: file not found"
            raise SecretSourceError(msg) from exc
        except PermissionError as exc:
            msg = f"cannot read {text!r}: permission denied"
            raise SecretSourceError(msg) from exc
        except OSError as exc:
            msg = f"cannot read {text!r}: {exc.strerror or type(exc).__name__}"
            raise SecretSourceError(msg) from exc


def token_from(raw: str | bytes, source: str) -> str:
    """A token with surrounding whitespace (trailing newline of a file) removed."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    token = text.strip()
    if not token:
        msg = f"{source} holds no token"
        raise SecretSourceError(msg)
    if any(ch.isspace() for ch in token):
        msg = f"{source} holds more than one word; a token is a single line without spaces"
        raise SecretSourceError(msg)
    return token


def rsa_pem_from(raw: str | bytes, source: str) -> str:
    """The PEM text if it is an unencrypted RSA private key; the key itself never enters a message."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    # Environment variables often carry the PEM with literal "\n" because real newlines are awkward there.
    if "\n" not in text.strip() and "\\n" in text:
        text = text.replace("\\n", "\n")
    text = text.strip() + "\n"
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except TypeError as exc:
        msg = f"{source} holds an encrypted private key; GitHub App keys must be unencrypted PEM"
        raise SecretSourceError(msg) from exc
    except ValueError as exc:
        msg = f"{source} does not hold a PEM-encoded private key (expected '-----BEGIN RSA PRIVATE KEY-----')"
        raise SecretSourceError(msg) from exc
    except UnsupportedAlgorithm as exc:
        msg = f"{source} does not hold a usable private key"
        raise SecretSourceError(msg) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        msg = f"{source} holds a non-RSA private key; GitHub Apps sign with RSA keys"
        raise SecretSourceError(msg)
    return text
