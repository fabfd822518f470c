"""Leader election on a Redis lease, for HA outside Kubernetes (the same Redis as ``store.backend: redis``).

Keys under ``<key_prefix>:leader:<lease_name>``:

* the lease itself: a string holding the leader's identity, with a PX expiry of ``lease_duration``;
  acquired with SET NX PX, renewed and released by Lua compare-and-set / compare-and-delete scripts, so
  a replica never extends or deletes a lease it does not hold;
* ``:epoch``: the fencing token, INCR'd on every acquisition (``RedisElector.epoch``); it only grows
  while Redis keeps its data;
* ``:quiet``: set for one lease duration when the epoch key is missing (first use, or a Redis that
  restarted without its data). Nobody may acquire while it exists, so a leader from before the data
  loss has passed its renew deadline and stepped down before anyone else can lead.

Expiry runs on the Redis server's clock; the leader's step-down deadline runs on its own monotonic
clock from the moment it *sent* its last successful renewal, which is never later than when Redis
restarted the expiry. Every Redis failure becomes a `LeaseError`; nothing here ends the process.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from github_stats_exporter.leader.base import LeaseError
from github_stats_exporter.leader.lease import LeaseElector, LeaseTimings
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.connection import RedisTuning, open_sentinel, open_standalone

_TUNING = RedisTuning(socket_timeout=2.0, connect_timeout=2.0)
"""No client-side retries: the elector retries on its own schedule and must see failures at once."""

# Returns {1, epoch} when this identity now holds a new term, {0, 0} when another one holds the lease,
# {-1, 0} during the quiet period after the epoch was found missing.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0, 0} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], '0')
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
  return {-1, 0}
end
if redis.call('EXISTS', KEYS[3]) == 1 then return {-1, 0} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('INCR', KEYS[2])}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease:
    """A `LeaseLock` on one Redis key; ``epoch`` is the fencing token of the term it last acquired."""

    def __init__(
        self,
        client: Redis,
        *,
        key_prefix: str,
        name: str,
        identity: str,
        lease_duration: float,
        sentinel: Sentinel | None = None,
    ) -> None:
        base = f"{key_prefix}:leader:{name}"
        self.key, self.epoch_key, self.quiet_key = base, f"{base}:epoch", f"{base}:quiet"
        self._client = client
        self._sentinel = sentinel
        self._identity = identity
        self._lease_ms = max(1, round(lease_duration * 1000))
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self.epoch = 0
        self.quiet = False

    async def try_acquire_or_renew(self, now: float, leading: bool) -> bool:
        del now  # expiry runs on the Redis server's clock
        if leading:
            renewed: int = await self._run(self._renew, [self.key])
            return renewed == 1
        result = await self._run(self._acquire, [self.key, self.epoch_key, self.quiet_key])
        code, epoch = int(result[0]), int(result[1])
        self.quiet = code == -1
        if code == 1:
            self.epoch = epoch
        return code == 1

    async def release(self) -> bool:
        deleted: int = await self._run(self._release, [self.key], with_duration=False)
        return deleted == 1

    async def close(self) -> None:
        await self._client.aclose()
        if self._sentinel is not None:
            for sentinel in self._sentinel.sentinels:
                await sentinel.aclose()

    async def _run(self, script: Any, keys: list[str], *, with_duration: bool = True) -> Any:
        args: list[str | int] = [self._identity, self._lease_ms] if with_duration else [self._identity]
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            msg = f"{type(exc).__name__}: {exc}"[:200]
            raise LeaseError(msg, reason="redis") from exc


class RedisElector(LeaseElector):
    """A `LeaseElector` on a Redis lease; ``epoch`` grows with every term any replica starts."""

    def __init__(
        self,
        client: Redis,
        *,
        key_prefix: str,
        lease_name: str,
        identity: str,
        timings: LeaseTimings,
        metrics: SelfMetrics | None = None,
        sentinel: Sentinel | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.lease = RedisLease(
            client,
            key_prefix=key_prefix,
            name=lease_name,
            identity=identity,
            lease_duration=timings.lease_duration,
            sentinel=sentinel,
        )
        super().__init__(
            self.lease,
            identity=identity,
            timings=timings,
            metrics=metrics,
            clock=clock,
            sleep=sleep,
            jitter=jitter,
        )

    @property
    def epoch(self) -> int:
        """The fencing token of this replica's current (or last) term; 0 before the first one."""
        return self.lease.epoch

    @classmethod
    def standalone(cls, host: str, port: int, **options: Any) -> RedisElector:
        """An elector on one Redis server (connects on the first attempt)."""
        return open_standalone(cls, _TUNING, host, port, **options)

    @classmethod
    def sentinel(cls, sentinels: Sequence[tuple[str, int]], master_set: str, **options: Any) -> RedisElector:
        """An elector on the master that Sentinel names for ``master_set``."""
        return open_sentinel(cls, _TUNING, sentinels, master_set, **options)
