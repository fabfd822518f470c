"""Secrets: org and enterprise credentials, passwords, URLs and hash keys; never shown anywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from github_stats_exporter.config import (
    AppCredentials,
    ConfigError,
    Settings,
    TokenCredentials,
    UnresolvedSecretError,
    load_config,
    parse_config,
)

TOKEN = "ghp_S3cretTokenValue"
PASSWORD = "r3dis-Pa55word"
AMQP_URL = "amqp://bunny:amqpPa55@rabbit:5672/vhost"
HASH_KEY = "0123456789abcdef-hash-key"


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _with_org(org: dict[str, object], **sections: object) -> dict[str, object]:
    return {"github": {"orgs": [{"org": "acme", **org}]}, **sections}


def _problems(data: object, environ: dict[str, str], base_dir: Path | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ=environ, base_dir=base_dir)
    return {p.path: p.message for p in info.value.problems}


def test_token_from_environment(rsa_pem: str) -> None:
    """token_env resolves to TokenCredentials holding the variable's value."""
    settings = parse_config(_with_org({"token_env": "GH_TOKEN"}), environ={"GH_TOKEN": f" {TOKEN}\n"})
    assert settings.github.orgs[0].credentials == TokenCredentials(TOKEN)
    assert settings.github.orgs[0].auth_method == "token"


def test_token_from_file_relative_to_config(tmp_path: Path) -> None:
    """token_file is read relative to the config file's folder, trailing newline removed."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text(TOKEN + "\n")
    config = tmp_path / "c.yaml"
    config.write_text("github:\n  orgs:\n    - org: acme\n      token_file: secrets/token\n")
    settings = load_config(config, environ={})
    assert settings.github.orgs[0].credentials == TokenCredentials(TOKEN)


@pytest.mark.parametrize(
    ("org", "environ", "files", "path", "needle"),
    [
        pytest.param(
            {"token_env": "GH_TOKEN"},
            {},
            {},
            "github.orgs[0].token_env",
            "environment variable GH_TOKEN is not set",
            id="token-env-missing",
        ),
        pytest.param(
            {"token_env": "GH_TOKEN"},
            {"GH_TOKEN": "  "},
            {},
            "github.orgs[0].token_env",
            "environment variable GH_TOKEN is empty",
            id="token-env-empty",
        ),
        pytest.param(
            {"token_file": "tok"},
            {},
            {},
            "github.orgs[0].token_file",
            "cannot read 'tok': file not found",
            id="token-file-missing",
        ),
        pytest.param(
            {"token_file": "tok"},
            {},
            {"tok": "two words\n"},
            "github.orgs[0].token_file",
            "holds more than one word",
            id="token-file-two-words",
        ),
        pytest.param(
            {"token_file": "tok"},
            {},
            {"tok": "\n"},
            "github.orgs[0].token_file",
            "holds no token",
            id="token-file-blank",
        ),
        pytest.param(
            {"token_file": "."},
            {},
            {},
            "github.orgs[0].token_file",
            "it is a directory",
            id="token-file-directory",
        ),
        pytest.param(
            {"app_id": 1, "installation_id": 2, "private_key_env": "KEY"},
            {},
            {},
            "github.orgs[0].private_key_env",
            "environment variable KEY is not set",
            id="key-env-missing",
        ),
        pytest.param(
            {"app_id": 1, "installation_id": 2, "private_key_path": "k.pem"},
            {},
            {"k.pem": "not a key at all"},
            "github.orgs[0].private_key_path",
            "'k.pem' does not hold a PEM-encoded private key",
            id="key-file-not-pem",
        ),
        pytest.param(
            {"app_id": 1, "installation_id": 2, "private_key_path": "k.pem"},
            {},
            {"k.pem": "x" * 70_000},
            "github.orgs[0].private_key_path",
            "too large for a key or token file",
            id="key-file-too-large",
        ),
    ],
)
def test_secret_source_problems_name_the_source(
    tmp_path: Path,
    org: dict[str, object],
    environ: dict[str, str],
    files: dict[str, str],
    path: str,
    needle: str,
) -> None:
    """A missing or malformed secret source is a problem at the field that names it."""
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    problems = _problems(_with_org(org), environ, base_dir=tmp_path)
    assert path in problems
    assert needle in problems[path]


def test_app_credentials_from_pem_file(tmp_path: Path, rsa_pem: str) -> None:
    """private_key_path must hold an RSA PEM key; the credentials carry ids and the PEM text."""
    (tmp_path / "app.pem").write_text(rsa_pem)
    settings = parse_config(
        _with_org({"app_id": 11, "installation_id": 22, "private_key_path": "app.pem"}),
        environ={},
        base_dir=tmp_path,
    )
    credentials = settings.github.orgs[0].credentials
    assert isinstance(credentials, AppCredentials)
    assert (credentials.app_id, credentials.installation_id) == (11, 22)
    assert credentials.private_key_pem.strip() == rsa_pem.strip()


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda pem: pem, id="real-newlines"),
        pytest.param(lambda pem: pem.strip().replace("\n", "\\n"), id="escaped-newlines"),
    ],
)
def test_app_credentials_from_environment(rsa_pem: str, transform: Callable[[str], str]) -> None:
    """private_key_env holds the PEM text, with real or backslash-escaped newlines."""
    settings = parse_config(
        _with_org({"app_id": 11, "installation_id": 22, "private_key_env": "APP_KEY"}),
        environ={"APP_KEY": transform(rsa_pem)},
    )
    credentials = settings.github.orgs[0].credentials
    assert isinstance(credentials, AppCredentials)
    assert credentials.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----\n")


def test_encrypted_key_is_rejected(tmp_path: Path) -> None:
    """A passphrase-protected key cannot sign JWTs unattended, so it is refused with a reason."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    (tmp_path / "k.pem").write_bytes(pem)
    problems = _problems(
        _with_org({"app_id": 1, "installation_id": 2, "private_key_path": "k.pem"}), {}, tmp_path
    )
    assert "holds an encrypted private key" in problems["github.orgs[0].private_key_path"]


def test_non_rsa_key_is_rejected(tmp_path: Path) -> None:
    """GitHub Apps sign with RSA; an EC key is refused."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "k.pem").write_bytes(pem)
    problems = _problems(
        _with_org({"app_id": 1, "installation_id": 2, "private_key_path": "k.pem"}), {}, tmp_path
    )
    assert "holds a non-RSA private key" in problems["github.orgs[0].private_key_path"]


def test_invalid_pem_error_never_prints_the_content(tmp_path: Path, rsa_pem: str) -> None:
    """A damaged key file is reported by path only; none of its content reaches the message."""
    damaged = rsa_pem.replace("A", "!", 5)
    (tmp_path / "k.pem").write_text(damaged)
    with pytest.raises(ConfigError) as info:
        parse_config(
            _with_org({"app_id": 1, "installation_id": 2, "private_key_path": "k.pem"}),
            environ={},
            base_dir=tmp_path,
        )
    body_line = damaged.splitlines()[3]
    assert body_line not in str(info.value)
    assert "'k.pem'" in str(info.value)


def test_enterprise_credentials_resolve(tmp_path: Path) -> None:
    """copilot.enterprise gets its own credentials when Copilot and the enterprise are enabled."""
    settings = parse_config(
        _with_org(
            {"token_env": "GH_TOKEN"},
            copilot={
                "enabled": True,
                "enterprise": {"enabled": True, "slug": "big", "token_env": "ENT_TOKEN"},
            },
        ),
        environ={"GH_TOKEN": TOKEN, "ENT_TOKEN": "ghp_enterprise"},
    )
    assert settings.copilot.enterprise.credentials == TokenCredentials("ghp_enterprise")
    problems = _problems(
        _with_org(
            {"token_env": "GH_TOKEN"},
            copilot={
                "enabled": True,
                "enterprise": {"enabled": True, "slug": "big", "token_env": "ENT_TOKEN"},
            },
        ),
        {"GH_TOKEN": TOKEN},
    )
    assert problems == {"copilot.enterprise.token_env": "environment variable ENT_TOKEN is not set"}


@pytest.mark.parametrize(
    ("copilot", "environ", "files", "expected"),
    [
        pytest.param(
            {"user_label_hash_key_env": "HK"}, {"HK": HASH_KEY}, {}, HASH_KEY.encode(), id="from-env"
        ),
        pytest.param(
            {"user_label_hash_key_file": "hk"}, {}, {"hk": HASH_KEY + "\n"}, HASH_KEY.encode(), id="from-file"
        ),
    ],
)
def test_hash_key_for_hashed_labels(
    tmp_path: Path,
    copilot: dict[str, object],
    environ: dict[str, str],
    files: dict[str, str],
    expected: bytes,
) -> None:
    """user_label_mode hashed reads its HMAC key from a variable or a file."""
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    data = _with_org({"token_env": "T"}, copilot={"enabled": True, "user_label_mode": "hashed", **copilot})
    settings = parse_config(data, environ={"T": TOKEN, **environ}, base_dir=tmp_path)
    assert settings.copilot.hash_key == expected
    assert HASH_KEY not in repr(settings.copilot)


@pytest.mark.parametrize(
    ("environ", "needle"),
    [
        pytest.param({}, "environment variable HK is not set", id="missing"),
        pytest.param({"HK": "short"}, "$HK holds 5 bytes; the hash key needs at least 16", id="too-short"),
    ],
)
def test_hash_key_problems(environ: dict[str, str], needle: str) -> None:
    """A missing or short hash key is an error at user_label_hash_key_env."""
    data = _with_org(
        {"token_env": "T"},
        copilot={"enabled": True, "user_label_mode": "hashed", "user_label_hash_key_env": "HK"},
    )
    problems = _problems(data, {"T": TOKEN, **environ})
    assert problems == {"copilot.user_label_hash_key_env": needle}


def test_redis_password_from_environment() -> None:
    """redis_password_env supplies the password for a Redis store."""
    data = _with_org({"token_env": "T"}, store={"backend": "redis", "redis_password_env": "REDIS_PW"})
    settings = parse_config(data, environ={"T": TOKEN, "REDIS_PW": PASSWORD})
    assert settings.store.resolved_redis_password == PASSWORD
    problems = _problems(data, {"T": TOKEN})
    assert problems == {"store.redis_password_env": "environment variable REDIS_PW is not set"}


def test_amqp_url_from_environment() -> None:
    """amqp.url_env supplies the broker URL; a malformed one is reported without its password."""
    data = _with_org({"token_env": "T"}, amqp={"url_env": "AMQP_URL", "exchange": "gh"})
    settings = parse_config(data, environ={"T": TOKEN, "AMQP_URL": AMQP_URL})
    assert settings.amqp.resolved_url == AMQP_URL
    assert settings.amqp.enabled is True
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ={"T": TOKEN, "AMQP_URL": "http://bunny:amqpPa55@rabbit/"})
    assert "amqpPa55" not in str(info.value)
    assert "is not an AMQP URL" in str(info.value)


def test_secrets_are_absent_from_repr_and_str(tmp_path: Path, rsa_pem: str) -> None:
    """No resolved or inline secret appears in repr() or str() of the settings or credentials."""
    (tmp_path / "app.pem").write_text(rsa_pem)
    data = {
        "github": {
            "orgs": [
                {"org": "a", "token_env": "GH_TOKEN"},
                {"org": "b", "app_id": 1, "installation_id": 2, "private_key_path": "app.pem"},
            ]
        },
        "store": {"backend": "redis", "redis_password": PASSWORD},
        "amqp": {"url": AMQP_URL, "exchange": "gh"},
        "copilot": {"enabled": True, "user_label_mode": "hashed", "user_label_hash_key_env": "HK"},
    }
    settings = parse_config(data, environ={"GH_TOKEN": TOKEN, "HK": HASH_KEY}, base_dir=tmp_path)
    key_line = rsa_pem.splitlines()[1]
    texts = [
        repr(settings),
        str(settings),
        repr(settings.github.orgs[0].credentials),
        repr(settings.github.orgs[1].credentials),
        repr(settings.model_dump()),
    ]
    for text in texts:
        for secret in (TOKEN, PASSWORD, "amqpPa55", HASH_KEY, key_line):
            assert secret not in text
    assert settings.store.resolved_redis_password == PASSWORD
    assert settings.amqp.resolved_url == AMQP_URL


@pytest.mark.parametrize(
    ("data", "secret"),
    [
        pytest.param({"store": {"redis_password": ["hunter2-pw"]}}, "hunter2-pw", id="password-wrong-type"),
        pytest.param(
            {"amqp": {"url": "http://bunny:hunter2-pw@rabbit/", "exchange": "gh"}},
            "hunter2-pw",
            id="url-wrong-scheme",
        ),
        pytest.param(
            {"amqp": {"url": ["amqp://bunny:hunter2-pw@rabbit/"]}}, "hunter2-pw", id="url-wrong-type"
        ),
        pytest.param({"amqp": "amqp://bunny:hunter2-pw@rabbit/"}, "hunter2-pw", id="section-wrong-type"),
        pytest.param(
            {"store": {"redis_password": "hunter2-pw", "redis_password_env": "X"}},
            "hunter2-pw",
            id="both-password-sources",
        ),
        pytest.param({"store": {"redis_pasword": "hunter2-pw"}}, "hunter2-pw", id="mistyped-password-key"),
    ],
)
def test_secrets_never_appear_in_error_messages(data: dict[str, object], secret: str) -> None:
    """Problems about secret-bearing fields never quote the secret, in messages or in values."""
    with pytest.raises(ConfigError) as info:
        parse_config(_with_org({"token_env": "T"}, **data), environ={"T": TOKEN})
    assert secret not in str(info.value)
    assert all(secret not in repr(p.value) for p in info.value.problems)


def test_unresolved_mode_reads_no_secret_and_says_so() -> None:
    """With resolve_secrets=False nothing is read; asking for a secret then raises a clear error."""
    data = _with_org(
        {"token_env": "MISSING"},
        store={"backend": "redis", "redis_password_env": "MISSING_PW"},
        amqp={"url_env": "MISSING_URL", "exchange": "gh"},
        copilot={"enabled": True, "user_label_mode": "hashed", "user_label_hash_key_file": "/nonexistent"},
    )
    settings = parse_config(data, environ={}, resolve_secrets=False)
    assert isinstance(settings, Settings)
    assert settings.copilot.hash_key is None
    with pytest.raises(UnresolvedSecretError):
        _ = settings.github.orgs[0].credentials
    with pytest.raises(UnresolvedSecretError):
        _ = settings.store.resolved_redis_password
    with pytest.raises(UnresolvedSecretError):
        _ = settings.amqp.resolved_url
