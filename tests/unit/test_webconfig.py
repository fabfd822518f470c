"""The web config file: every bad input is a clear problem, good files give a usable TLS context."""

from __future__ import annotations

import ssl
from pathlib import Path

import bcrypt
import pytest
from cryptography.hazmat.primitives import serialization
from tests.support.certs import Pki, make_pki

from github_stats_exporter.webconfig import WebConfigError, load_web_config

HASH = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return path


def tls_block(pki: Pki, extra: str = "") -> str:
    return (
        f"tls_server_config:\n  cert_file: {pki.server_cert.name}\n  key_file: {pki.server_key.name}\n{extra}"
    )


def problems_of(path: Path, *, read_files: bool = True) -> list[str]:
    with pytest.raises(WebConfigError) as info:
        load_web_config(path, read_files=read_files)
    assert str(path) in str(info.value)
    return info.value.problems


def test_an_empty_file_means_plain_http_without_auth(tmp_path: Path):
    """An empty web config serves plain HTTP and asks for no credentials, as in the toolkit."""
    config = load_web_config(write(tmp_path, ""))
    assert config.ssl_context is None
    assert config.tls is None
    assert dict(config.users) == {}


def test_tls_and_users_load_with_paths_relative_to_the_file(tmp_path: Path, pki: Pki):
    """Relative certificate paths resolve against the web config's directory; users keep their hashes."""
    path = write(
        tmp_path,
        tls_block(pki, f"  client_ca_file: {pki.ca.name}\n  client_auth_type: RequireAndVerifyClientCert\n")
        + f"basic_auth_users:\n  prometheus: '{HASH}'\n",
    )
    config = load_web_config(path)
    assert config.tls is not None
    assert config.tls.cert_file == pki.server_cert
    assert config.files == (path, pki.server_cert, pki.server_key, pki.ca)
    assert config.ssl_context is not None
    assert config.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert dict(config.users) == {"prometheus": HASH.encode()}


@pytest.mark.parametrize(
    ("auth", "mode"),
    [
        pytest.param("NoClientCert", ssl.CERT_NONE, id="none"),
        pytest.param("RequestClientCert", ssl.CERT_NONE, id="request"),
        pytest.param("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL, id="verify-if-given"),
        pytest.param("RequireAndVerifyClientCert", ssl.CERT_REQUIRED, id="require-and-verify"),
    ],
)
def test_client_auth_types_map_onto_ssl_verify_modes(
    tmp_path: Path, pki: Pki, auth: str, mode: ssl.VerifyMode
):
    """Each supported client_auth_type becomes the documented verify mode of the context."""
    ca = f"  client_ca_file: {pki.ca.name}\n" if mode != ssl.CERT_NONE else ""
    config = load_web_config(write(tmp_path, tls_block(pki, f"{ca}  client_auth_type: {auth}\n")))
    assert config.ssl_context is not None
    assert config.ssl_context.verify_mode == mode


def test_old_versions_can_be_asked_for(tmp_path: Path, pki: Pki):
    """min_version TLS10 is accepted without Python's deprecation warning escaping."""
    config = load_web_config(write(tmp_path, tls_block(pki, "  min_version: TLS10\n")))
    assert config.ssl_context is not None
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1


def test_versions_are_applied(tmp_path: Path, pki: Pki):
    """min_version and max_version bound the context's protocol versions."""
    config = load_web_config(write(tmp_path, tls_block(pki, "  min_version: TLS13\n  max_version: TLS13\n")))
    assert config.ssl_context is not None
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.ssl_context.maximum_version == ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("- a\n", "must hold a mapping", id="not-a-mapping"),
        pytest.param("tls_server_config: [\n", "invalid YAML", id="bad-yaml"),
        pytest.param("users: {}\n", "users: unknown key", id="unknown-top-key"),
        pytest.param("http_server_config: {}\n", "does not support", id="toolkit-only-key"),
        pytest.param("basic_auth_users: [a]\n", "mapping of username", id="users-not-mapping"),
        pytest.param(
            "basic_auth_users:\n  bob: secret\n",
            "basic_auth_users.bob: is not a bcrypt hash",
            id="plain-password",
        ),
        pytest.param(f"basic_auth_users:\n  'a:b': '{HASH}'\n", "is not a username", id="colon-in-user"),
        pytest.param(f"basic_auth_users:\n  '': '{HASH}'\n", "is not a username", id="empty-user"),
        pytest.param("tls_server_config: yes\n", "must be a mapping", id="tls-not-mapping"),
        pytest.param("tls_server_config:\n  key_file: k.pem\n", "cert_file: is required", id="missing-cert"),
        pytest.param("tls_server_config:\n  cert_file: c.pem\n", "key_file: is required", id="missing-key"),
        pytest.param(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  certfile: x\n",
            "tls_server_config.certfile: unknown key",
            id="unknown-tls-key",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [x]\n",
            "cipher_suites: is an exporter-toolkit key",
            id="toolkit-only-tls-key",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Always\n",
            "'Always' is not one of",
            id="bad-client-auth",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAnyClientCert\n",
            "cannot be reproduced with Python's ssl module",
            id="require-any-refused",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: RequireAndVerifyClientCert\n",
            "client_ca_file: is required",
            id="verify-without-ca",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n",
            "verifies no client certificate",
            id="ca-without-policy",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS14\n",
            "min_version: 'TLS14' is not one of",
            id="bad-min-version",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  max_version: 1.3\n",
            "max_version: 1.3 is not text",
            id="version-not-text",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS13\n  max_version: TLS12\n",
            "newer than max_version",
            id="min-above-max",
        ),
    ],
)
def test_bad_web_configs_are_refused_with_the_key_named(tmp_path: Path, text: str, expected: str):
    """Every malformed key or value is a problem that names the key and what is allowed."""
    problems = problems_of(write(tmp_path, text), read_files=False)
    assert any(expected in problem for problem in problems), problems


def test_a_plain_password_is_never_echoed(tmp_path: Path):
    """A password pasted where a hash belongs does not appear in the error."""
    problems = problems_of(write(tmp_path, "basic_auth_users:\n  bob: hunter2-plain\n"))
    assert "hunter2-plain" not in "\n".join(problems)


def test_every_problem_of_a_file_is_reported_together(tmp_path: Path):
    """Several mistakes in one file come back as several problems, not just the first."""
    problems = problems_of(write(tmp_path, "extra: 1\nbasic_auth_users:\n  bob: x\n"), read_files=False)
    assert len(problems) == 2


def test_a_missing_file_is_a_clear_error(tmp_path: Path):
    """A web config path that does not exist says it cannot be read."""
    assert "cannot read the file" in problems_of(tmp_path / "absent.yml")[0]


def test_missing_certificate_files_are_named(tmp_path: Path):
    """A cert or key file that does not exist is reported with its key and path."""
    problems = problems_of(write(tmp_path, "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"))
    assert any("cert_file: cannot read" in p and "c.pem" in p for p in problems), problems
    assert any("key_file: cannot read" in p for p in problems), problems


def test_shape_only_check_does_not_read_certificates(tmp_path: Path):
    """With read_files=False absent certificate files are fine (check-config --no-secrets)."""
    config = load_web_config(
        write(tmp_path, "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"), read_files=False
    )
    assert config.tls is not None
    assert config.ssl_context is None


def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path: Path, pki: Pki):
    """A certificate paired with another certificate's key is a problem, not a broken listener."""
    path = write(
        tmp_path,
        f"tls_server_config:\n  cert_file: {pki.server_cert.name}\n  key_file: {pki.client_key.name}\n",
    )
    assert any("cannot use" in p for p in problems_of(path))


def test_a_ca_file_without_certificates_is_refused(tmp_path: Path, pki: Pki):
    """A client_ca_file that holds no CA certificate is a problem."""
    (tmp_path / "empty-ca.pem").write_text("not a certificate\n")
    path = write(
        tmp_path,
        tls_block(pki, "  client_ca_file: empty-ca.pem\n  client_auth_type: VerifyClientCertIfGiven\n"),
    )
    assert any("client_ca_file" in p and "no usable CA" in p for p in problems_of(path))


def test_the_tls_fingerprint_follows_certificate_bytes(tmp_path: Path, pki: Pki):
    """Rewriting a certificate file changes the fingerprint a reload uses to re-open the listener."""
    path = write(tmp_path, tls_block(pki))
    before = load_web_config(path).tls_fingerprint
    assert load_web_config(path).tls_fingerprint == before
    other = make_pki(tmp_path, "other-")
    pki.server_cert.write_bytes(other.server_cert.read_bytes())
    pki.server_key.write_bytes(other.server_key.read_bytes())
    assert load_web_config(path).tls_fingerprint != before


def test_the_documented_examples_are_valid(tmp_path: Path):
    """Every web.yml example in docs/tls.md passes the same validation as a real file."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "tls.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:] if b.startswith("# web.yml")]
    assert len(blocks) == 2
    for block in blocks:
        config = load_web_config(
            write(tmp_path, block.replace("<output of hash-password>", f"'{HASH}'")), read_files=False
        )
        assert config.tls is not None
        assert set(config.users) == {"prometheus"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(b"\xff\xfe", "not UTF-8", id="not-utf8"),
        pytest.param(b"a: \x07\n", "invalid YAML", id="control-character"),
        pytest.param(b"#" * (1 << 20) + b"\n", "larger than", id="too-large"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, raw: bytes, expected: str):
    """A file that is not UTF-8 YAML of sane size is a single clear problem."""
    path = tmp_path / "web.yml"
    path.write_bytes(raw)
    assert expected in problems_of(path)[0]


def test_an_empty_tls_section_means_plain_http(tmp_path: Path):
    """tls_server_config with only empty values serves plain HTTP, as in the toolkit."""
    config = load_web_config(write(tmp_path, "tls_server_config:\n  cert_file: ''\n"))
    assert config.tls is None


def test_an_encrypted_key_is_refused_without_prompting(tmp_path: Path, pki: Pki):
    """A passphrase-protected key is a problem (never an interactive prompt)."""
    key = serialization.load_pem_private_key(pki.server_key.read_bytes(), password=None)
    pki.server_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    problems = problems_of(write(tmp_path, tls_block(pki)))
    assert any("encrypted" in p for p in problems), problems
