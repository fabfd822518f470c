"""Redis store (every port of `base.Store`; standalone or Sentinel) on redis-py asyncio, shared by replicas.

Every write is one Lua script (atomic, one round trip); reads are one command or one pipeline (fragments:
one pipeline per `_FRAGMENT_BATCH` snapshots, each snapshot read by one HMGET). It must
not fall back to anything when Redis is unreachable: every failure surfaces as `StoreUnavailable`.

Key model under the prefix ``P`` (the scripts touch keys they compute, so this needs standalone or
Sentinel Redis, not Redis Cluster):

* ``P:gen``            string, the store-wide generation; every snapshot version is a value of it
* ``P:index``          hash, snapshot field -> version (what ``versions()`` returns in one HGETALL)
* ``P:nseries``        hash, snapshot field -> series count (the budget's per-snapshot part)
* ``P:series``         string, total series (the O(1) budget counter)
* ``P:snap:<field>``   hash ``v`` version, ``n`` series, ``d`` msgpack payload, and with a fragment
                       encoder ``f`` the fragments and ``fv`` the version they belong to (written by
                       the same script; a writer without fragments leaves ``fv`` behind ``v``, so the
                       stale ``f`` an older exporter cannot remove is never served); PEXPIRE = retention
* ``P:cp:<name>``      string, the checkpoint's bytes (PEXPIRE = its TTL); ``P:lock:<name>`` SET NX PX
* ``P:cpnames``        sorted set, every checkpoint name at score 0 (prefix listing by ZRANGEBYLEX);
                       names of expired records are dropped when listed and by ``gc``
* ``P:counters``       hash, JSON (name, labels) -> float cluster-wide counter totals
* ``P:batch:<id>``     string, marks an applied counter batch (idempotent flushes)
* ``P:members``        sorted set, live replica -> expiry (ms, Redis server time) of sharded collection
* ``P:unit:<unit>``    string, the unit's holder (PX = lease); ``P:unit:<unit>:epoch`` its fencing epoch,
                       INCR'd on every acquisition, created at the server's time in ms (raised to the
                       Lease's term with Kubernetes unit leases); fenced writes compare it inside their script
* ``P:budget:<name>``  string, the units booked of a shared budget (INCRBY within a cap in one script;
                       PEXPIRE on every grant)
* ``P:ratelimit:<scope>`` hash, resource -> ``limit|remaining|used|reset`` and ``~block`` ->
                       ``until|secondary``: an installation's shared budget (PEXPIRE on every write)
* ``P:response:<scope>:<key>`` string, one cached GitHub answer (ETag, headers, body) shared by the
                       replicas; SET PX on every write (pipelined batches), GETEX PX on every read
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from github_stats_exporter.metrics import STORE_SERIES_REFUSED
from github_stats_exporter.model import Labels, Sample, Snapshot, SnapshotKey
from github_stats_exporter.store.base import (
    CounterKey,
    Fence,
    FencedOut,
    FragmentEncoder,
    SeriesBudgetExceeded,
    StoredFragments,
    StoreError,
    StoreUnavailable,
    UnitRenewal,
    check_unit_epoch,
)
from github_stats_exporter.store.connection import RedisTuning, open_sentinel, open_standalone
from github_stats_exporter.store.fragments import encode_fragments
from github_stats_exporter.store.ratelimit_share import BudgetReading, BudgetShare

DECODE_OFFLOAD_BYTES = 1 << 20
"""Payloads above this size are decoded in a worker thread so the event loop keeps serving scrapes."""
_BATCH_ID_TTL_MS = 3_600_000
_MAX_IN_FLIGHT = 32
"""Concurrent commands per store; more callers wait here instead of failing on an exhausted pool."""
_TUNING = RedisTuning(
    socket_timeout=5.0,
    connect_timeout=2.0,
    # One quick retry absorbs a dropped idle connection; longer outages surface as StoreUnavailable at
    # once so the caller keeps its last good state and retries on its own schedule.
    retries=1,
    health_check_interval=30,
    # A cold refresh reads every snapshot's fragments (~80 bytes per series): 1 MiB reads take about
    # a third less CPU than the default 64 KiB ones (docs/benchmarks.md, "Replica cold start").
    socket_read_size=1 << 20,
)
_FRAGMENT_BATCH = 100
"""Snapshots per pipeline when reading fragments: a cold refresh reads in batches rather than asking
Redis to queue one reply of the whole page (docs/benchmarks.md, "Replica cold start")."""
_SCAN_COUNT = 1000
"""Index fields Redis looks at per `HSCAN` step of `keys`: each step is short, so no command waits long."""
_GLOB_SPECIAL = frozenset("*?[]\\")
_CHECKPOINT_BATCH = 500
"""Checkpoint names per MGET in `get_checkpoints`: bounded replies, few round trips."""

_PUT = """
local field, n, budget, ttl = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local added = n - tonumber(redis.call('HGET', KEYS[3], field) or '0')
if budget > 0 and added > 0 and tonumber(redis.call('GET', KEYS[5]) or '0') + added > budget then
  redis.call('HINCRBYFLOAT', KEYS[6], ARGV[6], added)
  return {-1, added}
end
local v = redis.call('INCR', KEYS[4])
if ARGV[7] == '' then
  redis.call('HSET', KEYS[1], 'v', v, 'n', n, 'd', ARGV[2])
  redis.call('HDEL', KEYS[1], 'f', 'fv')
else
  redis.call('HSET', KEYS[1], 'v', v, 'n', n, 'd', ARGV[2], 'f', ARGV[7], 'fv', v)
end
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
redis.call('HSET', KEYS[2], field, v)
redis.call('HSET', KEYS[3], field, n)
redis.call('INCRBY', KEYS[5], added)
return {v, 0}
"""

_DELETE = """
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
local n = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('DECRBY', KEYS[5], n)
redis.call('DEL', KEYS[1])
redis.call('INCR', KEYS[4])
return 1
"""

# Index entries whose data key expired are dropped; EXISTS inside a script sees expiry as of its start.
_GC = """
local removed = 0
local fields = redis.call('HKEYS', KEYS[1])
for _, field in ipairs(fields) do
  if redis.call('EXISTS', ARGV[1] .. field) == 0 then
    local n = tonumber(redis.call('HGET', KEYS[2], field) or '0')
    redis.call('HDEL', KEYS[1], field)
    redis.call('HDEL', KEYS[2], field)
    redis.call('DECRBY', KEYS[4], n)
    removed = removed + 1
  end
end
if removed > 0 then redis.call('INCR', KEYS[3]) end
return removed
"""

_SET_CHECKPOINT = """
if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
redis.call('ZADD', KEYS[2], 0, ARGV[3])
"""

_DELETE_CHECKPOINT = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
"""

# Names whose record expired are dropped on the way, so the index never outgrows the live records
# by more than what expired since the last listing or gc.
_CHECKPOINT_NAMES = """
local names = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[2], '(' .. ARGV[2] .. '\255')
local live = {}
for _, name in ipairs(names) do
  if redis.call('EXISTS', ARGV[1] .. name) == 1 then live[#live + 1] = name
  else redis.call('ZREM', KEYS[1], name) end
end
return live
"""

_GC_CHECKPOINT_NAMES = """
local removed = 0
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. name) == 0 then
    redis.call('ZREM', KEYS[1], name)
    removed = removed + 1
  end
end
return removed
"""


_ADD_COUNTERS = """
if ARGV[1] ~= '' and not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 0 end
for i = 3, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""

# Fenced writes: the write's own script first compares the unit's epoch (last key) with the writer's
# (last argument), so check and write are one atomic step.
_FENCE_CHECK = """
local current = tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
if current ~= tonumber(ARGV[#ARGV]) then return {-2, current} end
"""

_MEMBERS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""

# Every acquisition starts a new term, even by the holder itself: ticks of its old term were ended.
# A missing epoch (first use, or a Redis that restarted without its data) starts from the server's
# time in milliseconds, not from 0: a term handed out before a data loss is then below every later
# one and can never be current again (docs/scaling.md, "Limits").
# KEYS: each unit's lease and epoch keys in pairs; ARGV: holder, TTL in ms. One epoch (0: held by
# another) per unit, in order: a coordination round acquires every unit it gained in one round trip.
_UNIT_ACQUIRE = """
local out = {}
local now = nil
for i = 1, #KEYS, 2 do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[1] then
    out[#out + 1] = 0
  else
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    if redis.call('EXISTS', KEYS[i + 1]) == 0 then
      if not now then
        local t = redis.call('TIME')
        now = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
      end
      redis.call('SET', KEYS[i + 1], now)
    end
    out[#out + 1] = redis.call('INCR', KEYS[i + 1])
  end
end
return out
"""

# A lease is extended only while it is the holder's and the unit's epoch is still the holder's term.
# KEYS: lease and epoch keys in pairs; ARGV: holder, TTL in ms, then each unit's epoch (the term) in
# order. Per unit: renewed (1/0), the holder found ('' once expired) and the epoch found ('0' never
# acquired): every held unit of a coordination round is renewed in one round trip (docs/scaling.md).
_UNIT_RENEW = """
local out = {}
for i = 1, #KEYS, 2 do
  local holder = redis.call('GET', KEYS[i])
  local epoch = redis.call('GET', KEYS[i + 1])
  local renewed = 0
  if holder == ARGV[1] and epoch == ARGV[2 + (i + 1) / 2] then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    renewed = 1
  end
  out[#out + 1] = renewed
  out[#out + 1] = holder or ''
  out[#out + 1] = epoch or '0'
end
return out
"""

# Read and book in one step: concurrent grants of every replica never exceed the cap together.
_TAKE_BUDGET = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local granted = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if granted <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], granted)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return granted
"""

# Set-if-greater, per unit: a term leased outside Redis (Kubernetes) moves the fence before its first
# write. KEYS[i] is raised to ARGV[i]; answers every unit's epoch afterwards.
_UNIT_RAISE_MANY = """
local out = {}
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  local epoch = tonumber(ARGV[i])
  if current < epoch then redis.call('SET', KEYS[i], ARGV[i]) current = epoch end
  out[i] = current
end
return out
"""

# KEYS: the units' lease keys; each is deleted only while it is still ARGV[1]'s.
_UNIT_RELEASE = """
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 0
"""

# The merge rule of `ratelimit_share.merge_shares`, field by field; empty parts mean "unknown".
# Values travel as strings both ways, so Lua never rounds a float reply to an integer.
_SHARE_RATE_LIMIT = """
local function parts(text)
  local out = {}
  for part in string.gmatch(text .. '|', '([^|]*)|') do out[#out + 1] = part end
  return out
end
local function newer(old, new)
  if not old then return new end
  local o, n = parts(old), parts(new)
  if n[4] == '' then if o[4] ~= '' then return old end return new end
  if o[4] == '' or tonumber(n[4]) > tonumber(o[4]) then return new end
  if tonumber(n[4]) < tonumber(o[4]) then return old end
  if o[2] ~= '' and (n[2] == '' or tonumber(n[2]) > tonumber(o[2])) then return old end
  return new
end
for i = 3, #ARGV, 2 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  redis.call('HSET', KEYS[1], ARGV[i], newer(old, ARGV[i + 1]))
end
local block = redis.call('HGET', KEYS[1], '~block')
if not block or tonumber(parts(ARGV[2])[1]) > tonumber(parts(block)[1]) then
  redis.call('HSET', KEYS[1], '~block', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

_Payload = tuple[float, dict[str, str], tuple[Sample, ...]]
_payload_decoder = msgspec.msgpack.Decoder(_Payload)
_key_decoder = msgspec.json.Decoder(tuple[str, ...])
_counter_decoder = msgspec.json.Decoder(tuple[str, tuple[tuple[str, str], ...]])


def _ttl_ms(seconds: float) -> int:
    if not seconds > 0:
        msg = f"ttl_seconds must be positive, got {seconds!r}"
        raise ValueError(msg)
    return max(1, round(seconds * 1000))


def _key_field(key: SnapshotKey) -> str:
    # JSON keeps keys lossless even when a part contains "/" (str(key) would not parse back).
    return msgspec.json.encode((key.kind, *key.parts)).decode()


def _glob_literal(text: str) -> str:
    """``text`` as a Redis glob pattern that matches only itself (``*?[]\\`` escaped)."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


def _field_key(field: bytes) -> SnapshotKey:
    kind, *parts = _key_decoder.decode(field)
    return SnapshotKey(kind, tuple(parts))


def _counter_field(key: CounterKey) -> bytes:
    return msgspec.json.encode(key)


def _optional(value: float | None) -> str:
    return "" if value is None else repr(value)


def _encode_reading(reading: BudgetReading) -> str:
    return "|".join(
        _optional(part) for part in (reading.limit, reading.remaining, reading.used, reading.reset_at)
    )


def _decode_share(raw: Sequence[bytes]) -> BudgetShare:
    """The HGETALL reply of a shared budget; an unreadable field is dropped, never raised."""
    readings: list[BudgetReading] = []
    until, secondary = 0.0, False
    for field, value in zip(raw[::2], raw[1::2], strict=True):
        parts = value.decode().split("|")
        try:
            if field == b"~block":
                until, secondary = float(parts[0]), parts[1] == "1"
                continue
            limit, remaining, used = (int(p) if p else None for p in parts[:3])
            reset = float(parts[3]) if parts[3] else None
        except (ValueError, IndexError):
            continue  # written by a newer or broken writer: unknown rather than a crash
        readings.append(BudgetReading(field.decode(), limit, remaining, used, reset))
    return BudgetShare(tuple(sorted(readings, key=lambda r: r.resource)), until, secondary)


def _decode_payloads(raw: list[tuple[SnapshotKey, bytes, bytes]]) -> dict[SnapshotKey, Snapshot]:
    found: dict[SnapshotKey, Snapshot] = {}
    # Decoding creates millions of small tuples; without this pause the cyclic GC re-scans the growing
    # heap many times over and triples the cost (measured: 500k series 3.1 s -> 1.1 s). Nothing decoded
    # here can form a cycle, and the collector is switched back on right after.
    paused = gc.isenabled()
    gc.disable()
    try:
        for key, version, payload in raw:
            produced_at, meta, samples = _payload_decoder.decode(payload)
            found[key] = Snapshot(key, samples, produced_at, int(version), meta)
    finally:
        if paused:
            gc.enable()
    return found


class RedisSnapshotStore:
    """Every store port on Redis; construction never connects, the first command does.

    Build it with `standalone` or `sentinel`; pass an existing client only in tests. With ``fragments``
    every put also stores the encoder's bytes in the snapshot's hash (`get_fragments`).
    """

    def __init__(
        self,
        client: Redis,
        *,
        key_prefix: str = "gse",
        retention_seconds: float | None = None,
        max_series_budget: int = 0,
        sentinel: Sentinel | None = None,
        fragments: FragmentEncoder | None = None,
    ) -> None:
        if max_series_budget < 0:
            msg = f"max_series_budget must be >= 0 (0 disables it), got {max_series_budget}"
            raise ValueError(msg)
        if not key_prefix:
            msg = "key_prefix must not be empty"
            raise ValueError(msg)
        self._redis = client
        self._sentinel = sentinel
        self._prefix = key_prefix
        self._ttl_ms = 0 if retention_seconds is None else _ttl_ms(retention_seconds)
        self._budget = max_series_budget
        self._encoder = fragments
        self._in_flight = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self._index_keys: dict[bytes, SnapshotKey] = {}
        """The index's fields decoded at the last `versions`: a refresh decodes only new ones."""
        self._gen = f"{key_prefix}:gen"
        self._index = f"{key_prefix}:index"
        self._nseries = f"{key_prefix}:nseries"
        self._series = f"{key_prefix}:series"
        self._counters = f"{key_prefix}:counters"
        self._cp_names = f"{key_prefix}:cpnames"
        self._put_script = client.register_script(_PUT)
        self._delete_script = client.register_script(_DELETE)
        self._gc_script = client.register_script(_GC)
        self._counters_script = client.register_script(_ADD_COUNTERS)
        self._set_checkpoint_script = client.register_script(_SET_CHECKPOINT)
        self._delete_checkpoint_script = client.register_script(_DELETE_CHECKPOINT)
        self._checkpoint_names_script = client.register_script(_CHECKPOINT_NAMES)
        self._gc_checkpoint_names_script = client.register_script(_GC_CHECKPOINT_NAMES)
        self._share_rate_limit_script = client.register_script(_SHARE_RATE_LIMIT)
        self._put_fenced_script = client.register_script(_FENCE_CHECK + _PUT)
        self._set_checkpoint_fenced_script = client.register_script(_FENCE_CHECK + _SET_CHECKPOINT)
        self._members_script = client.register_script(_MEMBERS)
        self._unit_acquire_script = client.register_script(_UNIT_ACQUIRE)
        self._unit_renew_script = client.register_script(_UNIT_RENEW)
        self._unit_release_script = client.register_script(_UNIT_RELEASE)
        self._take_budget_script = client.register_script(_TAKE_BUDGET)
        self._unit_raise_many_script = client.register_script(_UNIT_RAISE_MANY)
        self._members = f"{key_prefix}:members"

    @classmethod
    def standalone(cls, host: str, port: int, **options: Any) -> RedisSnapshotStore:
        """A store on one Redis server (no connection is made until the first call)."""
        return open_standalone(cls, _TUNING, host, port, **options)

    @classmethod
    def sentinel(
        cls, sentinels: Sequence[tuple[str, int]], master_set: str, **options: Any
    ) -> RedisSnapshotStore:
        """A store on the master Sentinel names for ``master_set``; follows failovers by itself."""
        return open_sentinel(cls, _TUNING, sentinels, master_set, **options)

    def _snap_key(self, field: str | bytes) -> str:
        text = field.decode() if isinstance(field, bytes) else field
        return f"{self._prefix}:snap:{text}"

    async def put(self, snapshot: Snapshot) -> int:
        return await self._put(snapshot, None)

    async def put_fenced(self, snapshot: Snapshot, fence: Fence) -> int:
        return await self._put(snapshot, fence)

    async def _put(self, snapshot: Snapshot, fence: Fence | None) -> int:
        field = _key_field(snapshot.key)
        payload = msgspec.msgpack.encode((snapshot.produced_at, snapshot.meta, snapshot.samples))
        fragments = await encode_fragments(self._encoder, snapshot.samples)
        refused = _counter_field((STORE_SERIES_REFUSED.name, (("kind", snapshot.key.kind),)))
        keys = [self._snap_key(field), self._index, self._nseries, self._gen, self._series, self._counters]
        args: list[str | bytes | int] = [
            field,
            payload,
            len(snapshot.samples),
            self._budget,
            self._ttl_ms,
            refused,
            b"" if fragments is None else fragments,
        ]
        script = self._put_script
        if fence is not None:
            keys.append(self._epoch_key(fence.unit))
            args.append(fence.epoch)
            script = self._put_fenced_script
        version, added = await self._call(script(keys=keys, args=args))
        if version == -2 and fence is not None:
            raise FencedOut(fence.unit, fence.epoch, int(added))
        if version < 0:
            raise SeriesBudgetExceeded(snapshot.key, int(added), self._budget)
        return int(version)

    async def delete(self, key: SnapshotKey) -> None:
        field = _key_field(key)
        keys = [self._snap_key(field), self._index, self._nseries, self._gen, self._series]
        await self._call(self._delete_script(keys=keys, args=[field]))

    async def generation(self) -> int:
        return int(await self._call(self._redis.get(self._gen)) or 0)

    async def versions(self) -> dict[SnapshotKey, int]:
        index = await self._call(self._redis.hgetall(self._index))
        # Every page refresh reads the whole index while only a few of its fields are new; decoding
        # each one again was a few per cent of a replica's CPU in a steady cycle (docs/benchmarks.md,
        # "Steady cycle: fewer turns per repository"). Only this read's fields are kept.
        known = self._index_keys
        fields = {field: known.get(field) or _field_key(field) for field in index}
        self._index_keys = fields
        return {fields[field]: int(version) for field, version in index.items()}

    async def keys(self, prefix: SnapshotKey) -> list[SnapshotKey]:
        """The keys under ``prefix``: the index walked in `HSCAN` steps, matched by Redis.

        One script over the whole index (`HKEYS`, then a match per field in Lua) held Redis for 20 to 33 ms
        at 40,000 snapshots, and every command of every replica waited behind it (docs/benchmarks.md,
        "One key scan an hour"). A key written or deleted during the walk may be missed or listed.
        """
        # Fields are JSON arrays from one encoder, so the prefix's field without its closing bracket is
        # a byte prefix of every field under it; the exact part match follows below, because
        # ["loc","acme" is also a byte prefix of ["loc","acme-labs",...].
        pattern = _glob_literal(_key_field(prefix)[:-1]) + "*"
        fields: set[bytes] = set()
        cursor = 0
        while True:
            cursor, batch = await self._call(
                self._redis.hscan(self._index, cursor, match=pattern, count=_SCAN_COUNT)
            )
            fields.update(batch)  # a field can come twice while Redis resizes the hash
            if cursor == 0:
                break
        width = len(prefix.parts)
        found = [_field_key(field) for field in fields]
        return sorted((k for k in found if k.parts[:width] == prefix.parts), key=lambda k: k.parts)

    async def get_many(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in wanted:
                pipe.hmget(self._snap_key(_key_field(key)), "v", "d")
            rows = await self._call(pipe.execute())
        raw = [(key, v, d) for key, (v, d) in zip(wanted, rows, strict=True) if v is not None and d]
        try:
            if sum(len(d) for _, _, d in raw) > DECODE_OFFLOAD_BYTES:
                return await asyncio.to_thread(_decode_payloads, raw)
            return _decode_payloads(raw)
        except msgspec.DecodeError as exc:
            msg = f"undecodable snapshot payload in Redis: {exc}"
            raise StoreError(msg) from exc

    async def get_fragments(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, StoredFragments]:
        wanted = list(dict.fromkeys(keys))
        found: dict[SnapshotKey, StoredFragments] = {}
        for start in range(0, len(wanted), _FRAGMENT_BATCH):
            batch = wanted[start : start + _FRAGMENT_BATCH]
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.hmget(self._snap_key(_key_field(key)), "v", "fv", "f")
                rows = await self._call(pipe.execute())
            found |= {
                key: StoredFragments(int(v), f)
                for key, (v, fv, f) in zip(batch, rows, strict=True)
                if v is not None and v == fv and f
            }
        return found

    async def get_checkpoint(self, name: str) -> bytes | None:
        raw = await self._call(self._redis.get(self._cp_key(name)))
        return None if raw is None else bytes(raw)

    async def get_checkpoints(self, names: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for start in range(0, len(names), _CHECKPOINT_BATCH):
            batch = names[start : start + _CHECKPOINT_BATCH]
            raw = await self._call(self._redis.mget([self._cp_key(name) for name in batch]))
            found |= {name: bytes(value) for name, value in zip(batch, raw, strict=True) if value is not None}
        return found

    async def set_checkpoint(self, name: str, value: bytes, ttl_seconds: float | None = None) -> None:
        px = 0 if ttl_seconds is None else _ttl_ms(ttl_seconds)
        keys = [self._cp_key(name), self._cp_names]
        await self._call(self._set_checkpoint_script(keys=keys, args=[bytes(value), px, name]))

    async def set_checkpoint_fenced(
        self, name: str, value: bytes, ttl_seconds: float | None, fence: Fence
    ) -> None:
        px = 0 if ttl_seconds is None else _ttl_ms(ttl_seconds)
        keys = [self._cp_key(name), self._cp_names, self._epoch_key(fence.unit)]
        args: list[str | bytes | int] = [bytes(value), px, name, fence.epoch]
        refused = await self._call(self._set_checkpoint_fenced_script(keys=keys, args=args))
        if refused:
            raise FencedOut(fence.unit, fence.epoch, int(refused[1]))

    # --- sharded collection: members and unit leases ------------------------------------------------
    def _unit_key(self, unit: str) -> str:
        return f"{self._prefix}:unit:{unit}"

    def _epoch_key(self, unit: str) -> str:
        return f"{self._prefix}:unit:{unit}:epoch"

    async def heartbeat(self, member: str, ttl_seconds: float) -> list[str]:
        names = await self._call(
            self._members_script(keys=[self._members], args=[member, _ttl_ms(ttl_seconds)])
        )
        return sorted(name.decode() for name in names)

    async def leave(self, member: str) -> None:
        await self._call(self._redis.zrem(self._members, member))

    async def acquire_unit(self, unit: str, holder: str, ttl_seconds: float) -> int:
        return (await self.acquire_units([unit], holder, ttl_seconds))[unit]

    async def renew_unit(self, unit: str, holder: str, epoch: int, ttl_seconds: float) -> bool:
        return (await self.renew_units({unit: epoch}, holder, ttl_seconds))[unit].renewed

    async def release_unit(self, unit: str, holder: str) -> None:
        await self.release_units([unit], holder)

    async def acquire_units(self, units: Sequence[str], holder: str, ttl_seconds: float) -> dict[str, int]:
        names = list(dict.fromkeys(units))
        if not names:
            return {}
        keys = [key for unit in names for key in (self._unit_key(unit), self._epoch_key(unit))]
        epochs = await self._call(self._unit_acquire_script(keys=keys, args=[holder, _ttl_ms(ttl_seconds)]))
        return {unit: int(epoch) for unit, epoch in zip(names, epochs, strict=True)}

    async def renew_units(
        self, terms: Mapping[str, int], holder: str, ttl_seconds: float
    ) -> dict[str, UnitRenewal]:
        if not terms:
            return {}
        names = list(terms)
        keys = [key for unit in names for key in (self._unit_key(unit), self._epoch_key(unit))]
        args: list[str | int] = [holder, _ttl_ms(ttl_seconds), *(str(terms[unit]) for unit in names)]
        raw = await self._call(self._unit_renew_script(keys=keys, args=args))
        return {
            unit: UnitRenewal(bool(raw[3 * i]), raw[3 * i + 1].decode(), int(raw[3 * i + 2]))
            for i, unit in enumerate(names)
        }

    async def release_units(self, units: Iterable[str], holder: str) -> None:
        keys = [self._unit_key(unit) for unit in dict.fromkeys(units)]
        if keys:
            await self._call(self._unit_release_script(keys=keys, args=[holder]))

    async def unit_epochs(self, units: Iterable[str]) -> dict[str, int]:
        names = list(units)
        if not names:
            return {}
        raw = await self._call(self._redis.mget([self._epoch_key(u) for u in names]))
        return {unit: int(value or 0) for unit, value in zip(names, raw, strict=True)}

    async def raise_unit_epoch(self, unit: str, epoch: int) -> int:
        return (await self.raise_unit_epochs({unit: epoch}))[unit]

    async def raise_unit_epochs(self, epochs: Mapping[str, int]) -> dict[str, int]:
        for epoch in epochs.values():
            check_unit_epoch(epoch)
        if not epochs:
            return {}
        names = list(epochs)
        keys = [self._epoch_key(unit) for unit in names]
        raw = await self._call(self._unit_raise_many_script(keys=keys, args=[str(epochs[u]) for u in names]))
        return {unit: int(value) for unit, value in zip(names, raw, strict=True)}

    async def unit_holders(self, units: Iterable[str]) -> dict[str, tuple[str, int]]:
        names = list(units)
        if not names:
            return {}
        keys = [self._unit_key(u) for u in names] + [self._epoch_key(u) for u in names]
        raw = await self._call(self._redis.mget(keys))
        holders, epochs = raw[: len(names)], raw[len(names) :]
        return {
            unit: ((holder or b"").decode(), int(epoch or 0))
            for unit, holder, epoch in zip(names, holders, epochs, strict=True)
        }

    async def delete_checkpoint(self, name: str) -> None:
        keys = [self._cp_key(name), self._cp_names]
        await self._call(self._delete_checkpoint_script(keys=keys, args=[name]))

    async def checkpoint_names(self, prefix: str) -> list[str]:
        args = [f"{self._prefix}:cp:", prefix]
        names = await self._call(self._checkpoint_names_script(keys=[self._cp_names], args=args))
        return [name.decode() for name in names]

    def _cp_key(self, name: str) -> str:
        return f"{self._prefix}:cp:{name}"

    async def take_budget(self, name: str, wanted: int, cap: int, ttl_seconds: float) -> int:
        args = [int(wanted), int(cap), _ttl_ms(ttl_seconds)]
        return int(await self._call(self._take_budget_script(keys=[self._budget_key(name)], args=args)))

    async def budget_used(self, name: str) -> int:
        raw = await self._call(self._redis.get(self._budget_key(name)))
        return int(raw or 0)

    def _budget_key(self, name: str) -> str:
        return f"{self._prefix}:budget:{name}"

    async def try_lock(self, name: str, ttl_seconds: float) -> bool:
        px = _ttl_ms(ttl_seconds)
        return bool(await self._call(self._redis.set(f"{self._prefix}:lock:{name}", b"1", nx=True, px=px)))

    async def release_lock(self, name: str) -> None:
        await self._call(self._redis.delete(f"{self._prefix}:lock:{name}"))

    async def get_response(self, scope: str, key: str, ttl_seconds: float) -> bytes | None:
        raw = await self._call(self._redis.getex(self._response_key(scope, key), px=_ttl_ms(ttl_seconds)))
        return None if raw is None else bytes(raw)

    async def put_responses(self, scope: str, values: Mapping[str, bytes], ttl_seconds: float) -> None:
        px = _ttl_ms(ttl_seconds)  # a bad TTL is refused even with nothing to write
        if not values:
            return
        # One pipeline, no transaction: each SET stands alone (a cache), and one round trip carries a batch.
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, value in values.items():
                pipe.set(self._response_key(scope, key), bytes(value), px=px)
            await self._call(pipe.execute())

    def _response_key(self, scope: str, key: str) -> str:
        return f"{self._prefix}:response:{scope}:{key}"

    async def share_rate_limit(self, scope: str, mine: BudgetShare, ttl_seconds: float) -> BudgetShare:
        block = f"{mine.blocked_until!r}|{1 if mine.blocked_secondary else 0}"
        args: list[str | int] = [_ttl_ms(ttl_seconds), block]
        for reading in mine.readings:
            args += (reading.resource, _encode_reading(reading))
        keys = [f"{self._prefix}:ratelimit:{scope}"]
        raw = await self._call(self._share_rate_limit_script(keys=keys, args=args))
        return _decode_share(raw)

    async def add_counters(self, deltas: Mapping[CounterKey, float], batch_id: str = "") -> None:
        args: list[str | bytes | int] = [batch_id, _BATCH_ID_TTL_MS]
        for key, amount in deltas.items():
            if not amount >= 0:
                msg = f"counter increments must be >= 0, got {amount!r} for {key[0]}"
                raise ValueError(msg)
            args += (_counter_field(key), repr(float(amount)))
        if not deltas:
            return
        keys = [self._counters, f"{self._prefix}:batch:{batch_id}"]
        await self._call(self._counters_script(keys=keys, args=args))

    async def counters(self) -> dict[CounterKey, float]:
        raw = await self._call(self._redis.hgetall(self._counters))
        totals: dict[CounterKey, float] = {}
        for field, value in raw.items():
            name, labels = _counter_decoder.decode(field)
            key: tuple[str, Labels] = (name, labels)
            totals[key] = float(value)
        return totals

    async def series_total(self) -> int:
        return int(await self._call(self._redis.get(self._series)) or 0)

    async def gc(self, now: float) -> int:
        del now  # Redis expires keys on its own clock; gc only forgets index entries of expired data
        keys = [self._index, self._nseries, self._gen, self._series]
        snapshots = await self._call(self._gc_script(keys=keys, args=[f"{self._prefix}:snap:"]))
        names = await self._call(
            self._gc_checkpoint_names_script(keys=[self._cp_names], args=[f"{self._prefix}:cp:"])
        )
        return int(snapshots) + int(names)

    async def ping(self) -> None:
        await self._call(self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()
        if self._sentinel is not None:
            for client in self._sentinel.sentinels:
                await client.aclose()

    async def __aenter__(self) -> RedisSnapshotStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _call(self, awaitable: Any) -> Any:
        try:
            async with self._in_flight:
                return await awaitable
        except RedisError as exc:
            msg = f"redis: {type(exc).__name__}: {exc}"
            raise StoreUnavailable(msg) from exc
        except OSError as exc:
            msg = f"redis connection: {exc}"
            raise StoreUnavailable(msg) from exc
