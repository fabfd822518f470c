"""The event loop a command runs on (`eventloop`, ``server.event_loop``)."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import pytest
import uvloop

from github_stats_exporter.config import ConfigError, parse_config, schema
from github_stats_exporter.eventloop import EventLoopError, loop_factory, loop_name, run

ENV = {"GH_TOKEN": "t"}


def _config(**server: str) -> dict[str, object]:
    return {"github": {"orgs": [{"org": "acme", "token_env": "GH_TOKEN"}]}, "server": server}


async def _running() -> str:
    await asyncio.sleep(0)
    return loop_name(asyncio.get_running_loop())


def test_auto_and_uvloop_run_on_uvloop_where_it_is_installed() -> None:
    """The default runs the coroutine to its result on uvloop's loop; ``asyncio`` on the stdlib's."""
    assert run(_running()) == "uvloop"
    assert run(_running(), "uvloop") == "uvloop"
    assert run(_running(), "asyncio") == "asyncio"
    assert loop_factory("auto") is uvloop.new_event_loop
    assert loop_factory("asyncio") is None


def test_a_run_closes_its_loop_and_passes_errors_through() -> None:
    """As `asyncio.run`: the coroutine's exception reaches the caller and the loop is closed after."""
    loops: list[asyncio.AbstractEventLoop] = []

    async def failing() -> None:
        loops.append(asyncio.get_running_loop())
        raise LookupError("boom")

    with pytest.raises(LookupError, match="boom"):
        run(failing())
    assert loops[0].is_closed()


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where uvloop does not import (Windows), ``auto`` means asyncio and ``uvloop`` is a clear error."""
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("no uvloop here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert loop_factory("auto") is None
    assert run(_running()) == "asyncio"
    with pytest.raises(EventLoopError, match="not installed"):
        loop_factory("uvloop")


def test_the_config_names_the_loop_and_refuses_uvloop_when_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """``server.event_loop`` accepts the three names (any case); ``uvloop`` without the package fails to load."""
    assert parse_config(_config(), environ=ENV).server.event_loop == "auto"
    assert parse_config(_config(event_loop="AsyncIO"), environ=ENV).server.event_loop == "asyncio"
    assert parse_config(_config(event_loop="uvloop"), environ=ENV).server.event_loop == "uvloop"
    with pytest.raises(ConfigError, match="event_loop"):
        parse_config(_config(event_loop="trio"), environ=ENV)
    monkeypatch.setattr(schema, "uvloop_installed", lambda: False)
    with pytest.raises(ConfigError, match="uvloop package"):
        parse_config(_config(event_loop="uvloop"), environ=ENV)
