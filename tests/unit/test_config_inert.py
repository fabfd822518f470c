"""Values accepted without effect: the inert-key list, check-config warnings, start-up log lines, amqp halves.

The Go exporter uses RabbitMQ only when amqp.url and amqp.exchange are both set (docs/configuration.md); a
half-set pair is accepted, runs on the in-process queue and is reported like an inert key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from pydantic import BaseModel

from github_stats_exporter import app, cli
from github_stats_exporter.app.assembly import build_runtime
from github_stats_exporter.config import INERT_KEYS, Settings, config_warnings, parse_config

ENV = {"GH_TOKEN": "ghp_exampletoken"}

# Every inert key that can hold a non-default value, set to one (metrics.topology and loc.source
# allow only their default, so they can never warn).
INERT_VALUES: dict[str, dict[str, Any]] = {
    "metrics": {"topology": "single_service_target", "scrape_service_dns": "gse.monitoring.svc:8080"},
    "store": {"index_shards": 64, "export_cache_mode": "full"},
}
WARNED = [
    "metrics.scrape_service_dns",
    "store.index_shards",
    "store.export_cache_mode",
]

HALF_AMQP = [
    pytest.param({"url": "", "exchange": "gh.backfill"}, id="exchange-without-url"),
    pytest.param({"url": "amqp://u:p@rabbitmq:5672/", "exchange": ""}, id="url-without-exchange"),
    pytest.param({"url_env": "GSE_AMQP_URL_NOT_SET"}, id="url-env-without-exchange"),
]


def config(**sections: Any) -> dict[str, Any]:
    return {
        "server": {"listen_addr": "127.0.0.1:0"},
        # A closed port: jobs that start during the short serve tests fail fast, nothing leaves the host.
        "github": {"api_base_url": "http://127.0.0.1:9", "orgs": [{"org": "acme", "token_env": "GH_TOKEN"}]},
        "health": {"github_probe_interval": "1h"},
        **sections,
    }


def settings_with(**sections: Any) -> Settings:
    return parse_config(config(**sections), environ=ENV)


def check_config(tmp_path: Path, data: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    code = cli.main(["check-config", "--no-secrets", "--config", str(path)])
    return code, capsys.readouterr().out


async def startup_logs(settings: Settings) -> list[MutableMapping[str, Any]]:
    """The log events of a serve that is asked to stop as soon as it listens."""
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(app.serve(settings, stop=stop, on_listening=lambda _: stop.set()), 10)
    return logs


def test_every_inert_key_names_a_real_field() -> None:
    """Each listed path exists in the schema, so the list cannot silently go stale."""
    for key in INERT_KEYS:
        model: type[BaseModel] = Settings
        *sections, name = key.path.split(".")
        for section in sections:
            annotation = model.model_fields[section].annotation
            assert isinstance(annotation, type)
            assert issubclass(annotation, BaseModel)
            model = annotation
        assert name in model.model_fields, key.path
        assert key.reason


def test_check_config_warns_once_per_inert_key_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config prints one warning per inert key set to a non-default value and still exits 0."""
    code, out = check_config(tmp_path, config(**INERT_VALUES), capsys)
    assert code == cli.EXIT_OK
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert [line.split(": ")[1] for line in warnings] == WARNED
    assert "warning: store.export_cache_mode: 'full' has no effect: kept for Go exporter compatibility" in out
    assert "configuration is valid" in out


@pytest.mark.parametrize(
    "sections",
    [
        pytest.param({}, id="keys-absent"),
        pytest.param(
            {
                "metrics": {"topology": "single_service_target", "scrape_service_dns": ""},
                "loc": {"source": "stats_contributors"},
                "store": {"index_shards": 1, "export_cache_mode": "incremental"},
                "telemetry": {"otel_enabled": False},
            },
            id="defaults-spelled-out",
        ),
        pytest.param(
            {"telemetry": {"otel_enabled": False, "otel_trace_mode": "off", "otel_trace_sample_ratio": 0.5}},
            id="tracing-details-while-tracing-off",
        ),
        pytest.param(
            {
                "telemetry": {
                    "otel_enabled": True,
                    "otel_exporter_otlp_endpoint": "http://otel-collector:4318",
                    "otel_trace_mode": "detailed",
                    "otel_trace_sample_ratio": 0.5,
                }
            },
            id="tracing-keys-take-effect",
        ),
    ],
)
def test_no_warning_without_inert_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sections: dict[str, Any]
) -> None:
    """Absent keys, spelled-out defaults and the tracing keys (which now take effect) produce no warning."""
    code, out = check_config(tmp_path, config(**sections), capsys)
    assert code == cli.EXIT_OK
    assert "warning: " not in out
    assert config_warnings(settings_with(**sections)) == []


async def test_startup_logs_exactly_one_line_per_inert_key() -> None:
    """serve (and so demo) logs one config_warning per inert key set, before it starts serving."""
    logs = await startup_logs(settings_with(**INERT_VALUES))
    warned = [entry["key"] for entry in logs if entry["event"] == "config_warning"]
    assert warned == WARNED
    assert all(entry["log_level"] == "warning" for entry in logs if entry["event"] == "config_warning")


async def test_once_logs_the_warnings_too() -> None:
    """`once` logs the same warnings at start (its collection fails here: GitHub is a closed port)."""
    settings = settings_with(
        store={"export_cache_mode": "full"},
        backfill={"enabled": False},
        retry={"max_attempts": 1},
        loc={"refresh_interval": "1h"},
    )
    with structlog.testing.capture_logs() as logs:
        await asyncio.wait_for(app.once(settings), 20)
    assert [entry["key"] for entry in logs if entry["event"] == "config_warning"] == [
        "store.export_cache_mode"
    ]


async def test_a_config_without_inert_keys_logs_no_warning() -> None:
    """A plain config starts without any config_warning line."""
    logs = await startup_logs(settings_with())
    assert [entry for entry in logs if entry["event"] == "config_warning"] == []


# --- amqp: RabbitMQ only with url and exchange, as in Go ------------------------------------------


@pytest.mark.parametrize("amqp", HALF_AMQP)
def test_half_set_amqp_is_accepted_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], amqp: dict[str, str]
) -> None:
    """A url without exchange (or the reverse) is valid, RabbitMQ is off, check-config warns and exits 0."""
    settings = settings_with(amqp=amqp)
    assert settings.amqp.enabled is False
    assert settings.amqp.resolved_url == ""
    code, out = check_config(tmp_path, config(amqp=amqp), capsys)
    assert code == cli.EXIT_OK
    assert "warning: amqp: " in out
    assert "RabbitMQ needs both (as in the Go exporter), so backfill uses the in-process queue" in out


def test_an_unused_url_env_is_not_read() -> None:
    """Without an exchange the URL is never used, so a missing url_env variable is no error (secrets on)."""
    settings = parse_config(config(amqp={"url_env": "GSE_AMQP_URL_NOT_SET"}), environ=ENV)
    assert settings.amqp.ignored is True


@pytest.mark.parametrize("amqp", HALF_AMQP)
async def test_half_set_amqp_builds_the_in_process_queue(amqp: dict[str, str]) -> None:
    """The runtime gets the memory queue: no broker connection service, health shows backfill_queue."""
    async with contextlib.AsyncExitStack() as stack:
        runtime = await build_runtime(settings_with(amqp=amqp), stack)
        components = runtime.health.snapshot()["components"]
        assert "backfill_queue" in components
        assert "amqp" not in components
        assert "amqp_connection" not in runtime.services


@pytest.mark.parametrize("amqp", HALF_AMQP)
async def test_half_set_amqp_is_logged_once_at_start(amqp: dict[str, str]) -> None:
    """serve logs the reason once: a single config_warning for amqp."""
    logs = await startup_logs(settings_with(amqp=amqp))
    lines = [entry for entry in logs if entry["event"] == "config_warning" and entry["key"] == "amqp"]
    assert len(lines) == 1
    assert "in-process queue" in lines[0]["message"]


def test_a_complete_amqp_pair_uses_rabbitmq_without_warning() -> None:
    """url and exchange together still mean RabbitMQ, and no warning is given."""
    settings = settings_with(amqp={"url": "amqp://u:p@rabbitmq:5672/", "exchange": "gh.backfill"})
    assert settings.amqp.enabled is True
    assert config_warnings(settings) == []
