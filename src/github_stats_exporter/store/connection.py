"""One factory for redis-py asyncio clients (standalone or through Sentinel), shared by store and elector.

Callers differ only in how patient the client is (`RedisTuning`): the store retries once and waits
longer, the elector never retries so it sees a failure at once. This module builds clients; it never
connects (redis-py connects on the first command) and knows nothing about keys.

The constructors are called through a typed alias so that type checking stays the same whether or
not the installed redis-py ships type hints for them (redis-py 8.2 added them for `Sentinel`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff, NoBackoff

_new_sentinel = cast(Callable[..., Sentinel], Sentinel)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RedisTuning:
    """Timeouts and client-side retries; ``retries=0`` surfaces every failure to the caller at once."""

    socket_timeout: float
    connect_timeout: float
    retries: int = 0
    health_check_interval: float = 0.0
    socket_read_size: int = 65536
    """Bytes asked of the socket per read; larger reads cost less CPU per byte of a large reply."""

    def retry(self) -> Retry:
        if self.retries <= 0:
            return Retry(NoBackoff(), retries=0)
        return Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=self.retries)

    def client_options(self, password: str, db: int) -> dict[str, Any]:
        options: dict[str, Any] = {
            "password": password or None,
            "db": db,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "retry": self.retry(),
            "socket_read_size": self.socket_read_size,
        }
        if self.health_check_interval > 0:
            options["health_check_interval"] = self.health_check_interval
        return options


def standalone_client(host: str, port: int, tuning: RedisTuning, *, password: str = "", db: int = 0) -> Redis:
    """A client of one Redis server."""
    return Redis(host=host, port=port, **tuning.client_options(password, db))


def sentinel_client(
    sentinels: Sequence[tuple[str, int]],
    master_set: str,
    tuning: RedisTuning,
    *,
    password: str = "",
    db: int = 0,
) -> tuple[Redis, Sentinel]:
    """A client of the master Sentinel names for ``master_set`` (follows failovers), and its watcher."""
    sentinel_options = {
        "socket_timeout": tuning.socket_timeout,
        "socket_connect_timeout": tuning.connect_timeout,
        "retry": tuning.retry(),
    }
    watcher = _new_sentinel(
        list(sentinels), sentinel_kwargs=sentinel_options, **tuning.client_options(password, db)
    )
    return watcher.master_for(master_set), watcher


def open_standalone(
    factory: Callable[..., T],
    tuning: RedisTuning,
    host: str,
    port: int,
    *,
    password: str = "",
    db: int = 0,
    **options: Any,
) -> T:
    """``factory(client, **options)`` on one Redis server (the store's and the elector's constructors)."""
    return factory(standalone_client(host, port, tuning, password=password, db=db), **options)


def open_sentinel(
    factory: Callable[..., T],
    tuning: RedisTuning,
    sentinels: Sequence[tuple[str, int]],
    master_set: str,
    *,
    password: str = "",
    db: int = 0,
    **options: Any,
) -> T:
    """``factory(client, sentinel=watcher, **options)`` on the master Sentinel names for ``master_set``."""
    client, watcher = sentinel_client(sentinels, master_set, tuning, password=password, db=db)
    return factory(client, sentinel=watcher, **options)
