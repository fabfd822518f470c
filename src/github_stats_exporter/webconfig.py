"""The web config file: TLS and basic auth for the HTTP server, in the Prometheus exporter-toolkit format.

`load_web_config(path)` reads the YAML file and the certificate files it names, validates every key
and returns a `WebConfig` with a ready `ssl.SSLContext` (or none, for plain HTTP). Every problem of
one file is reported together as a `WebConfigError`. docs/tls.md describes the format and how the
toolkit's client_auth_type values map onto Python's ssl module.

This module never starts a listener, never checks a password and never logs: serving is
`server.py`'s job, passwords are `basic_auth.py`'s, re-reading on change is `webconfig_watch.py`'s.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import yaml

from github_stats_exporter.errors import ExporterError

TLS_VERSIONS: Mapping[str, ssl.TLSVersion] = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

CLIENT_AUTH_MODES: Mapping[str, ssl.VerifyMode] = {
    "NoClientCert": ssl.CERT_NONE,
    # Python's ssl module cannot ask for a certificate without verifying it. The exporter never looks
    # at an unverified certificate, so not asking admits exactly the clients Go admits (docs/tls.md).
    "RequestClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
VERIFYING_MODES = frozenset({"VerifyClientCertIfGiven", "RequireAndVerifyClientCert"})

_REFUSED_CLIENT_AUTH = {
    "RequireAnyClientCert": (
        "cannot be reproduced with Python's ssl module (it cannot require a certificate without "
        "verifying it); use RequireAndVerifyClientCert with client_ca_file"
    ),
}

_TOP_KEYS = frozenset({"tls_server_config", "basic_auth_users"})
_TLS_KEYS = frozenset(
    {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version"}
)
# Keys the exporter-toolkit knows but this exporter does not implement: named, so the error says so.
_TOOLKIT_ONLY = frozenset({"http_server_config", "rate_limit"})
_TLS_TOOLKIT_ONLY = frozenset(
    {"cert", "key", "client_ca", "cipher_suites", "curve_preferences", "prefer_server_cipher_suites"}
    | {"client_allowed_sans"}
)

_BCRYPT_HASH = re.compile(r"\$2[abxy]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_MAX_FILE_BYTES = 1 << 20


class WebConfigError(ExporterError):
    """The web config file cannot be used; `problems` lists every reason (`key: message`)."""

    transient = False

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"web config {path}: {len(self.problems)} problem(s):\n{lines}")


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The validated `tls_server_config`; file paths are absolute (relative ones follow the web config)."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"
    max_version: str = "TLS13"

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file this TLS setup reads (watched for changes)."""
        extra = (self.client_ca_file,) if self.client_ca_file is not None else ()
        return (self.cert_file, self.key_file, *extra)


@dataclass(frozen=True, slots=True)
class WebConfig:
    """What the listener needs: a TLS context (None: plain HTTP) and the users (empty: no auth).

    ``users`` maps a username to its bcrypt hash. ``tls_fingerprint`` changes whenever the TLS
    settings or the bytes of a certificate file change, so a reload can tell whether the listener
    needs the new context.
    """

    source: Path | None = None
    tls: TlsSettings | None = None
    ssl_context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    tls_fingerprint: bytes = b""

    @property
    def files(self) -> tuple[Path, ...]:
        """The web config file and every file it names (what the reload watcher polls)."""
        own = (self.source,) if self.source is not None else ()
        return (*own, *(self.tls.files if self.tls is not None else ()))


PLAIN = WebConfig()
"""No web config file: plain HTTP without authentication."""


def load_web_config(path: str | Path, *, read_files: bool = True) -> WebConfig:
    """Read and validate the web config at ``path``; raises WebConfigError listing every problem.

    With ``read_files=False`` only the YAML is checked (the certificate files are neither read nor
    required to exist), which is what ``check-config --no-secrets`` wants.
    """
    file = Path(path)
    data = _read_yaml(file)
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebConfigError(file, [f"the file must hold a mapping, not {type(data).__name__}"])
    problems.extend(_unknown_keys("", data, _TOP_KEYS, _TOOLKIT_ONLY))
    users = _users(data.get("basic_auth_users"), problems)
    tls = _tls(data.get("tls_server_config"), file.parent, problems)
    if problems:
        raise WebConfigError(file, problems)
    if tls is None or not read_files:
        return WebConfig(source=file, tls=tls, users=users)
    context, fingerprint = _context(tls, problems)
    if problems or context is None:
        raise WebConfigError(file, problems)
    return WebConfig(source=file, tls=tls, ssl_context=context, users=users, tls_fingerprint=fingerprint)


def _read_yaml(file: Path) -> object:
    try:
        raw = _read(file)
    except OSError as exc:
        raise WebConfigError(file, [f"cannot read the file: {exc.strerror or exc}"]) from None
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise WebConfigError(file, ["the file is not UTF-8 text"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise WebConfigError(file, [f"{where}invalid YAML: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise WebConfigError(file, [f"invalid YAML: {exc}"]) from None


def _read(file: Path) -> bytes:
    with file.open("rb") as handle:
        raw = handle.read(_MAX_FILE_BYTES + 1)
    if len(raw) > _MAX_FILE_BYTES:
        msg = f"{file} is larger than {_MAX_FILE_BYTES} bytes"
        raise OSError(msg)
    return raw


def _unknown_keys(
    prefix: str, data: Mapping[object, object], known: frozenset[str], toolkit_only: frozenset[str]
) -> list[str]:
    problems = []
    for key in data:
        if key in known:
            continue
        where = f"{prefix}{key}"
        if key in toolkit_only:
            problems.append(f"{where}: is an exporter-toolkit key this exporter does not support; remove it")
        else:
            problems.append(f"{where}: unknown key; allowed: {', '.join(sorted(known))}")
    return problems


def _users(value: object, problems: list[str]) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append("basic_auth_users: must be a mapping of username to bcrypt hash")
        return {}
    users: dict[str, bytes] = {}
    for name, hashed in value.items():
        user = str(name) if isinstance(name, int) and not isinstance(name, bool) else name
        if not isinstance(user, str) or not user or ":" in user:
            problems.append(f"basic_auth_users: {name!r} is not a username (non-empty text without ':')")
            continue
        # Never echo the value: a plain-text password pasted here by mistake must not reach a log.
        if not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed):
            problems.append(
                f"basic_auth_users.{user}: is not a bcrypt hash (like $2b$10$ and 53 more characters); "
                "create one with `github-stats-exporter hash-password`"
            )
            continue
        users[user] = hashed.encode("ascii")
    return users


def _text(section: Mapping[object, object], key: str, problems: list[str]) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(f"tls_server_config.{key}: {value!r} is not text")
        return None
    return value


def _tls(value: object, base: Path, problems: list[str]) -> TlsSettings | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append("tls_server_config: must be a mapping (cert_file, key_file, ...)")
        return None
    problems.extend(_unknown_keys("tls_server_config.", value, _TLS_KEYS, _TLS_TOOLKIT_ONLY))
    start = len(problems)
    cert, key, ca = (_text(value, k, problems) for k in ("cert_file", "key_file", "client_ca_file"))
    auth = _text(value, "client_auth_type", problems) or "NoClientCert"
    low = _text(value, "min_version", problems) or "TLS12"
    high = _text(value, "max_version", problems) or "TLS13"
    if not any(value.get(k) for k in _TLS_KEYS):
        return None  # an empty section means plain HTTP, as in the toolkit
    if cert is None:
        problems.append("tls_server_config.cert_file: is required when tls_server_config is set")
    if key is None:
        problems.append("tls_server_config.key_file: is required when tls_server_config is set")
    if auth in _REFUSED_CLIENT_AUTH:
        problems.append(f"tls_server_config.client_auth_type: {auth} {_REFUSED_CLIENT_AUTH[auth]}")
    elif auth not in CLIENT_AUTH_MODES:
        allowed = ", ".join(CLIENT_AUTH_MODES)
        problems.append(f"tls_server_config.client_auth_type: {auth!r} is not one of {allowed}")
    elif auth in VERIFYING_MODES and ca is None:
        problems.append(f"tls_server_config.client_ca_file: is required with client_auth_type {auth}")
    elif ca is not None and auth not in VERIFYING_MODES:
        problems.append(
            f"tls_server_config.client_ca_file: is set but client_auth_type {auth} verifies no client "
            "certificate; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
        )
    for name, version in (("min_version", low), ("max_version", high)):
        if version not in TLS_VERSIONS:
            problems.append(f"tls_server_config.{name}: {version!r} is not one of {', '.join(TLS_VERSIONS)}")
    if low in TLS_VERSIONS and high in TLS_VERSIONS and TLS_VERSIONS[low] > TLS_VERSIONS[high]:
        problems.append(f"tls_server_config.min_version: {low} is newer than max_version {high}")
    if len(problems) > start or cert is None or key is None:
        return None
    return TlsSettings(
        cert_file=base / cert,
        key_file=base / key,
        client_ca_file=base / ca if ca is not None else None,
        client_auth_type=auth,
        min_version=low,
        max_version=high,
    )


def _no_passphrase() -> NoReturn:
    msg = "the key is encrypted; the exporter needs an unencrypted key file"
    raise ValueError(msg)


def _context(tls: TlsSettings, problems: list[str]) -> tuple[ssl.SSLContext | None, bytes]:
    digest = hashlib.sha256(repr(tls).encode())
    for name, file in (
        ("cert_file", tls.cert_file),
        ("key_file", tls.key_file),
        ("client_ca_file", tls.client_ca_file),
    ):
        if file is None:
            continue
        try:
            digest.update(hashlib.sha256(_read(file)).digest())
        except OSError as exc:
            problems.append(f"tls_server_config.{name}: cannot read {file}: {exc.strerror or exc}")
    if problems:
        return None, b""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        # Python deprecates TLS 1.0/1.1 for code; here an operator asked for them explicitly.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = TLS_VERSIONS[tls.min_version]
        context.maximum_version = TLS_VERSIONS[tls.max_version]
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
    except (ssl.SSLError, ValueError, OSError) as exc:
        problems.append(
            f"tls_server_config.cert_file: cannot use {tls.cert_file} with key {tls.key_file}: {_reason(exc)}"
        )
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            problems.append(
                f"tls_server_config.client_ca_file: {tls.client_ca_file} holds no usable CA: {_reason(exc)}"
            )
    context.verify_mode = CLIENT_AUTH_MODES[tls.client_auth_type]
    return (None, b"") if problems else (context, digest.digest())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return str(exc)
