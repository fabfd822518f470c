"""The event loop a command runs on: uvloop where it is installed, else asyncio's own.

`run` is `asyncio.run` with the loop that ``server.event_loop`` names (docs/configuration.md):
``auto`` (the default) takes uvloop when it imports (it has no Windows build) and asyncio's loop
otherwise, ``uvloop`` insists on it, ``asyncio`` never uses it. uvloop runs the same coroutines with
less CPU per request (docs/benchmarks.md, "Event loop: uvloop"). This module starts no task and keeps
no state; what runs on the loop is the caller's.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

EventLoopChoice = Literal["auto", "asyncio", "uvloop"]
T = TypeVar("T")


class EventLoopError(RuntimeError):
    """``event_loop: uvloop`` where uvloop is not installed."""


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def loop_factory(choice: EventLoopChoice) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop ``choice`` names; None for asyncio's default loop."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as exc:
        if choice == "uvloop":
            msg = "server.event_loop is 'uvloop', but uvloop is not installed (it has no Windows build)"
            raise EventLoopError(msg) from exc
        return None
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: which implementation ``loop`` is, for the start-up log."""
    return type(loop).__module__.partition(".")[0]


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice = "auto") -> T:
    """Run ``main`` to completion on a new loop of ``choice``, then close the loop (as `asyncio.run`)."""
    factory = loop_factory(choice)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
