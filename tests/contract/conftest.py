"""Fixtures of the per-port contract suites: every test runs once per adapter (``STORE_PARAMS``).

Adding an adapter means one more backend in ``tests/support/store_backends.py``, one more entry in
``BACKENDS`` and one more param in ``STORE_PARAMS``; the tests themselves do not change. The Redis
backend runs against a real redis-server started once per session on a free loopback port; every test
gets its own key prefix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from tests.support.redis_server import RedisProcess
from tests.support.store_backends import MemoryBackend, RedisBackend, StoreBackend

from github_stats_exporter.store.base import Store


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server = RedisProcess(Path(tmp_path_factory.mktemp("contract-redis"))).start()
    try:
        yield server.port
    finally:
        server.stop()


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], StoreBackend]] = {
    "memory": lambda _: MemoryBackend(),
    "redis": lambda request: RedisBackend(request.getfixturevalue("redis_port")),
}
STORE_PARAMS = [
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.integration),
]


@pytest.fixture(params=STORE_PARAMS)
async def store_backend(request: pytest.FixtureRequest) -> AsyncIterator[StoreBackend]:
    backend = BACKENDS[request.param](request)
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def store(store_backend: StoreBackend) -> Store:
    return await store_backend.make()
