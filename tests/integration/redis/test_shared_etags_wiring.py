"""Shared ETags as `serve` wires them: on with a Redis store, off on request, and flushed at shutdown.

The clients come from the composition root (`build_core` + `build_github`) on a real redis-server;
unwinding the exit stack is what a stopping replica does, and the entries it still had queued must
be in Redis afterwards for the replicas that take its units over.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest
from tests.support.redis_server import RedisProcess

from github_stats_exporter.app.assembly import build_core, build_github
from github_stats_exporter.config import parse_config
from github_stats_exporter.github.etag import CachedResponse, decode_entry, url_key
from github_stats_exporter.store.redis import RedisSnapshotStore

pytestmark = pytest.mark.integration

ENV = {"GH_TOKEN": "ghp_exampletoken"}
URL = "https://api.github.com/repos/acme/widgets/pulls?per_page=100"
ENTRY = CachedResponse('"v1"', b'[{"number": 1}]', (("Content-Type", "application/json"),))


def settings(store: dict[str, Any], github: dict[str, Any] | None = None) -> Any:
    config = {
        "github": {"orgs": [{"org": "Acme", "token_env": "GH_TOKEN"}], **(github or {})},
        "store": store,
    }
    return parse_config(config, environ=ENV)


async def test_a_stopping_replica_writes_its_queued_entries(
    redis_server: RedisProcess, key_prefix: str
) -> None:
    store = {"backend": "redis", "redis_addr": f"127.0.0.1:{redis_server.port}", "key_prefix": key_prefix}
    async with contextlib.AsyncExitStack() as stack:
        core = build_core(settings(store), stack, time.time)
        shared = build_github(core, stack).clients["Acme"].shared
        assert shared is not None
        assert shared.scope == "acme:token"  # org names compare case-insensitively
        assert shared.ttl == 86_400
        await shared.put(URL, ENTRY)  # queued: a batch is not full yet
    async with RedisSnapshotStore.standalone("127.0.0.1", redis_server.port, key_prefix=key_prefix) as check:
        stored = await check.get_response("acme:token", url_key(URL), 60)
    assert stored is not None
    assert decode_entry(stored) == ENTRY


@pytest.mark.parametrize(
    ("store", "github"),
    [
        pytest.param({"backend": "memory"}, {}, id="memory-store"),
        pytest.param(
            {"backend": "redis", "redis_addr": "127.0.0.1:1"}, {"share_etags": False}, id="turned-off"
        ),
    ],
)
async def test_no_sharing_without_redis_or_when_turned_off(
    store: dict[str, Any], github: dict[str, Any]
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        core = build_core(settings(store, github), stack, time.time)
        assert build_github(core, stack).clients["Acme"].shared is None
