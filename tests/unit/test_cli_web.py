"""Command line for the web config: check-config validates it, --web.config.file overrides the key,
serve refuses a bad one, and hash-password reads stdin and prints a bcrypt hash."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from github_stats_exporter import cli
from github_stats_exporter.config import load_config

TOKEN_ENV = "GSE_TEST_WEB_TOKEN"


def write_config(tmp_path: Path, **server: Any) -> Path:
    path = tmp_path / "config.yaml"
    data = {
        "server": {"listen_addr": "127.0.0.1:0", **server},
        "github": {"api_base_url": "http://127.0.0.1:9", "orgs": [{"org": "acme", "token_env": TOKEN_ENV}]},
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_relative_web_config_file_starts_at_the_config_directory(tmp_path: Path):
    """server.web_config_file: web.yml means the file next to the config, wherever the process runs."""
    settings = load_config(write_config(tmp_path, web_config_file="web.yml"), resolve_secrets=False)
    assert settings.server.web_config_file == str(tmp_path / "web.yml")


def test_check_config_reports_web_config_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A bad web config named by the config makes check-config list its problems and exit 2."""
    (tmp_path / "web.yml").write_text("tls_server_config:\n  cert_file: c.pem\n  min_version: TLS9\n")
    config = write_config(tmp_path, web_config_file="web.yml")
    assert cli.main(["check-config", "--no-secrets", "--config", str(config)]) == cli.EXIT_BAD_CONFIG
    err = capsys.readouterr().err
    assert "key_file: is required" in err
    assert "min_version: 'TLS9'" in err


def test_the_flag_overrides_the_config_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """--web.config.file is checked instead of server.web_config_file."""
    (tmp_path / "good.yml").write_text("basic_auth_users: {}\n")
    (tmp_path / "bad.yml").write_text("nonsense: 1\n")
    config = write_config(tmp_path, web_config_file="good.yml")
    args = ["check-config", "--no-secrets", "--config", str(config)]
    assert cli.main(args) == cli.EXIT_OK
    assert "good.yml: web config is valid (plain HTTP, 0 basic auth user(s))" in capsys.readouterr().out
    assert cli.main([*args, "--web.config.file", str(tmp_path / "bad.yml")]) == cli.EXIT_BAD_CONFIG
    assert "nonsense: unknown key" in capsys.readouterr().err


def test_check_config_reads_certificates_unless_told_not_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """Missing certificate files fail check-config, but not check-config --no-secrets."""
    (tmp_path / "web.yml").write_text("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n")
    config = write_config(tmp_path, web_config_file="web.yml")
    assert cli.main(["check-config", "--no-secrets", "--config", str(config)]) == cli.EXIT_OK
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_ENV, "ghp_example")
        assert cli.main(["check-config", "--config", str(config)]) == cli.EXIT_BAD_CONFIG
    assert "cert_file: cannot read" in capsys.readouterr().err


def test_serve_refuses_a_bad_web_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """serve with a broken web config exits 2 with the problem, before anything listens."""
    (tmp_path / "web.yml").write_text("basic_auth_users:\n  bob: plain\n")
    config = write_config(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TOKEN_ENV, "ghp_example")
        code = cli.main(["serve", "--config", str(config), "--web.config.file", str(tmp_path / "web.yml")])
    assert code == cli.EXIT_BAD_CONFIG
    assert "basic_auth_users.bob: is not a bcrypt hash" in capsys.readouterr().err


def hash_password(stdin: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(["hash-password", *args])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err


def test_hash_password_prints_a_matching_bcrypt_hash(capsys: pytest.CaptureFixture[str]):
    """The password from stdin (newline dropped) comes back as a bcrypt hash of the requested cost."""
    code, out, _ = hash_password("correct horse\n", capsys, "--cost", "4")
    assert code == cli.EXIT_OK
    assert out.startswith("$2b$04$")
    assert bcrypt.checkpw(b"correct horse", out.encode())


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        pytest.param("\n", "empty", id="empty"),
        pytest.param("x" * 73 + "\n", "at most 72", id="too-long"),
    ],
)
def test_hash_password_refuses_unusable_passwords(
    stdin: str, message: str, capsys: pytest.CaptureFixture[str]
):
    """An empty password or one longer than bcrypt uses exits 2 without printing a hash."""
    code, out, err = hash_password(stdin, capsys, "--cost", "4")
    assert code == cli.EXIT_BAD_CONFIG
    assert out == ""
    assert message in err


def test_hash_password_refuses_a_bad_cost(capsys: pytest.CaptureFixture[str]):
    """A cost outside bcrypt's 4..31 is a usage error."""
    with pytest.raises(SystemExit) as info:
        hash_password("pw\n", capsys, "--cost", "3")
    assert info.value.code == 2
