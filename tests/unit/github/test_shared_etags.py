# mypy: allow-untyped-defs, allow-incomplete-defs
"""ETags shared through the store: a second process asks with the first one's validator (docs/scaling.md).

Two clients stand for two replicas: each has its own ETag cache and both share one memory store (the
contract suite shows Redis keeps values the same way). The fake GitHub answers 304 only to the
validator of its current body, as GitHub does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from github_stats_exporter import metrics
from github_stats_exporter.github.etag import (
    MISS_STREAK,
    SAMPLE_EVERY,
    WRITE_BATCH,
    WRITE_DELAY,
    CachedResponse,
    SharedResponses,
    decode_entry,
    encode_entry,
    url_key,
)
from github_stats_exporter.github.transport import Answer, Request
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.store.base import StoreUnavailable
from github_stats_exporter.store.memory import MemorySnapshotStore

from .conftest import FakeClock, FakeGitHub, answer

REPOS = "/orgs/acme/repos"
TTL = 3600.0
SCOPE = "acme:installation:42"


class Versioned:
    """A resource whose body changes when told; answers 304 to the validator of the current body."""

    def __init__(self, body: Any) -> None:
        self.version = 1
        self.body = body

    def change(self, body: Any) -> None:
        self.version += 1
        self.body = body

    @property
    def etag(self) -> str:
        return f'"v{self.version}"'

    async def __call__(self, request: Request) -> Answer:
        if request.headers.get("If-None-Match") == self.etag:
            return answer(304, headers={"ETag": self.etag})
        return answer(200, self.body, headers={"ETag": self.etag, "Link": '<http://x/?page=2>; rel="last"'})


class BrokenExchange:
    """A store that is down."""

    async def get_response(self, scope: str, key: str, ttl_seconds: float) -> bytes | None:
        raise StoreUnavailable("redis is down")

    async def put_responses(self, scope: str, values: Mapping[str, bytes], ttl_seconds: float) -> None:
        raise StoreUnavailable("redis is down")


class CountingStore(MemorySnapshotStore):
    """The memory store, counting the batches written."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.batches: list[int] = []

    async def put_responses(self, scope: str, values: Mapping[str, bytes], ttl_seconds: float) -> None:
        self.batches.append(len(values))
        await super().put_responses(scope, values, ttl_seconds)


@pytest.fixture
def store(clock: FakeClock) -> CountingStore:
    return CountingStore(clock)


@pytest.fixture
def share(store: CountingStore, clock: FakeClock) -> Callable[[], SharedResponses]:
    """A replica's view of the shared entries: each replica has its own (and its own write queue)."""
    return lambda: SharedResponses(store, SCOPE, TTL, clock=clock)


@pytest.fixture
def shared(share: Callable[[], SharedResponses]) -> SharedResponses:
    return share()


def statuses(fake_github: FakeGitHub) -> list[str | None]:
    return [seen.headers.get("If-None-Match") for seen in fake_github.requests_to(REPOS)]


def lookups(self_metrics: SelfMetrics, result: str) -> float:
    return self_metrics.value(metrics.GITHUB_SHARED_ETAG_LOOKUPS, {"org": "acme", "result": result})


async def test_a_second_replica_asks_with_the_first_ones_validator(
    fake_github, make_client, share, self_metrics
) -> None:
    """Replica B never saw the URL: it asks conditionally and gets the body as data, not as "unchanged"."""
    fake_github.on(REPOS, Versioned([{"name": "widgets"}]))
    mine = share()
    first = await make_client(shared=mine)
    second = await make_client(shared=share())

    await first.get(REPOS, endpoint="list_org_repos")
    await mine.flush()  # A's batch reaches the store (when full, or WRITE_DELAY later)
    adopted = await second.get(REPOS, endpoint="list_org_repos", decode_unchanged=False)
    again = await second.get(REPOS, endpoint="list_org_repos", decode_unchanged=False)

    assert statuses(fake_github) == [None, '"v1"', '"v1"']
    # New to this process: decoded and not "not modified", with the stored headers.
    assert (adopted.not_modified, adopted.data, adopted.unread) == (False, [{"name": "widgets"}], None)
    assert adopted.headers["Link"] == '<http://x/?page=2>; rel="last"'
    # From then on it is this process's own entry, and a 304 means unchanged again.
    assert (again.not_modified, again.data) == (True, None)
    assert (lookups(self_metrics, "hit"), lookups(self_metrics, "miss")) == (1, 1)


async def test_without_sharing_a_second_replica_pays_a_full_request(fake_github, make_client) -> None:
    """The baseline the shared store removes: each process's first request is unconditional."""
    fake_github.on(REPOS, Versioned([{"name": "widgets"}]))
    first = await make_client()
    second = await make_client()

    await first.get(REPOS, endpoint="list_org_repos")
    await second.get(REPOS, endpoint="list_org_repos")

    assert statuses(fake_github) == [None, None]


async def test_shared_first_replaces_an_older_validator_of_this_process(
    fake_github, make_client, share, self_metrics
) -> None:
    """A listing every unit asks: replica B's stale entry gives way to the newer one replica A stored."""
    resource = Versioned([{"name": "widgets"}])
    fake_github.on(REPOS, resource)
    mine = share()
    first = await make_client(shared=mine)
    second = await make_client(shared=share())
    await first.get(REPOS, endpoint="list_org_repos", shared_first=True)
    await mine.flush()
    await second.get(REPOS, endpoint="list_org_repos", shared_first=True)

    resource.change([{"name": "widgets"}, {"name": "gadgets"}])
    changed = await first.get(REPOS, endpoint="list_org_repos", shared_first=True)
    await mine.flush()
    seen = await second.get(REPOS, endpoint="list_org_repos", shared_first=True)

    assert statuses(fake_github) == [None, '"v1"', '"v1"', '"v2"']
    assert changed.data == seen.data == [{"name": "widgets"}, {"name": "gadgets"}]
    assert seen.not_modified is False  # B had not seen v2: the caller must re-read the listing
    # Without shared_first B would have sent its own "v1" and paid a 200.
    assert lookups(self_metrics, "same") == 1  # A's own v1 on its second call


async def test_a_changed_resource_still_costs_one_full_request_and_is_stored_for_all(
    fake_github, make_client, share, store
) -> None:
    """A validator the store holds but GitHub no longer accepts ends in a 200 that replaces it."""
    resource = Versioned(["old"])
    fake_github.on(REPOS, resource)
    mine, theirs = share(), share()
    first = await make_client(shared=mine)
    await first.get(REPOS, endpoint="list_org_repos")
    await mine.flush()
    resource.change(["new"])

    second = await make_client(shared=theirs)
    fresh = await second.get(REPOS, endpoint="list_org_repos")
    await theirs.flush()

    assert (fresh.status, fresh.data, fresh.not_modified) == (200, ["new"], False)
    stored = await store.get_response(SCOPE, url_key(fake_github.url(REPOS)), TTL)
    assert stored is not None
    assert decode_entry(stored) is not None
    assert decode_entry(stored).etag == '"v2"'  # type: ignore[union-attr]


async def test_a_store_that_is_down_costs_full_requests_never_failed_ones(fake_github, make_client) -> None:
    """Reads and writes that fail are misses: every request still answers."""
    fake_github.on(REPOS, Versioned(["x"]))
    broken = SharedResponses(BrokenExchange(), SCOPE, TTL)
    client = await make_client(shared=broken)

    first = await client.get(REPOS, endpoint="list_org_repos")
    await broken.flush()  # refused: logged, dropped
    second = await client.get(REPOS, endpoint="list_org_repos")

    assert (first.data, second.data, second.not_modified) == (["x"], ["x"], True)
    assert statuses(fake_github) == [None, '"v1"']  # the process's own cache still works


async def test_an_unreadable_stored_value_is_a_miss(fake_github, make_client, shared, store) -> None:
    """Garbage under the key (another version, a corrupted write) is ignored, and the next 200 replaces it."""
    fake_github.on(REPOS, Versioned(["x"]))
    key = url_key(fake_github.url(REPOS))
    await store.put_responses(SCOPE, {key: b"not zlib"}, TTL)
    client = await make_client(shared=shared)

    response = await client.get(REPOS, endpoint="list_org_repos")
    await shared.flush()

    assert statuses(fake_github) == [None]
    assert response.data == ["x"]
    stored = await store.get_response(shared.scope, key, TTL)
    assert stored is not None
    assert decode_entry(stored) is not None


async def test_an_entry_in_use_is_written_again_before_the_store_forgets_it(
    fake_github, make_client, shared, store, clock
) -> None:
    """A URL whose answer never changes keeps its shared entry while this process uses it."""
    fake_github.on(REPOS, Versioned(["x"]))
    key = url_key(fake_github.url(REPOS))
    client = await make_client(shared=shared)
    await client.get(REPOS, endpoint="list_org_repos")

    for _ in range(6):  # three TTLs of 304s, one every half TTL
        clock.now += TTL / 2
        await client.get(REPOS, endpoint="list_org_repos")

    assert await store.get_response(shared.scope, key, TTL) is not None
    clock.now += TTL + 1
    assert await store.get_response(shared.scope, key, TTL) is None  # nobody used it: gone


async def test_scopes_do_not_mix(fake_github, make_client, store) -> None:
    """Another installation (or org) never sees this one's entries."""
    fake_github.on(REPOS, Versioned(["x"]))
    mine = SharedResponses(store, SCOPE, TTL)
    first = await make_client(shared=mine)
    other = await make_client(shared=SharedResponses(store, "acme:installation:43", TTL))

    await first.get(REPOS, endpoint="list_org_repos")
    await mine.flush()
    await other.get(REPOS, endpoint="list_org_repos")

    assert statuses(fake_github) == [None, None]


async def test_unconditional_requests_neither_read_nor_write_the_store(
    fake_github, make_client, shared, store
) -> None:
    fake_github.on(REPOS, Versioned(["x"]))
    client = await make_client(shared=shared)

    await client.get(REPOS, endpoint="list_org_repos", conditional=False)
    await shared.flush()

    assert await store.get_response(SCOPE, url_key(fake_github.url(REPOS)), TTL) is None


ENTRY = CachedResponse('"e"', b"[]", ())


async def test_entries_are_written_in_batches(store, shared) -> None:
    """A cold start's writes go out WRITE_BATCH at a time, not one round trip per request."""
    for i in range(WRITE_BATCH * 2 + 3):
        await shared.put(f"http://api.github.test/u{i}", ENTRY)

    assert store.batches == [WRITE_BATCH, WRITE_BATCH]
    assert await shared.get("http://api.github.test/u0") == ENTRY  # written
    assert await shared.get(f"http://api.github.test/u{WRITE_BATCH * 2}") == ENTRY  # still queued, yet found


async def test_a_queued_entry_is_written_by_the_next_request_after_the_delay(
    fake_github, make_client, shared, store, clock
) -> None:
    fake_github.on(REPOS, Versioned(["x"]))
    client = await make_client(shared=shared)
    await client.get(REPOS, endpoint="list_org_repos")
    assert store.batches == []

    clock.now += WRITE_DELAY
    await client.get(REPOS, endpoint="list_org_repos")  # a 304: nothing new, but the batch is due

    assert store.batches == [1]


async def test_closing_the_client_writes_what_is_queued(fake_github, make_client, shared, store) -> None:
    """A replica that stops (rollout, scale-in) leaves its last entries for the others."""
    fake_github.on(REPOS, Versioned(["x"]))
    client = await make_client(shared=shared)
    await client.get(REPOS, endpoint="list_org_repos")

    await client.aclose()

    assert store.batches == [1]
    assert await store.get_response(SCOPE, url_key(fake_github.url(REPOS)), TTL) is not None


headers = st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=5)


@given(etag=st.text(min_size=1, max_size=40), body=st.binary(max_size=2000), pairs=headers)
def test_an_entry_survives_its_stored_form(etag: str, body: bytes, pairs: list[tuple[str, str]]) -> None:
    entry = CachedResponse(etag, body, tuple(pairs))
    assert decode_entry(encode_entry(entry)) == entry


@given(value=st.binary(max_size=200))
def test_any_bytes_decode_to_an_entry_or_none(value: bytes) -> None:
    decoded = decode_entry(value)
    assert decoded is None or isinstance(decoded, CachedResponse)


def test_a_json_page_is_stored_compressed() -> None:
    """The store holds one value per URL of every org: a listing page takes a fraction of its size."""
    page = json.dumps(
        [{"id": i, "name": f"repo-{i}", "private": False, "archived": False} for i in range(100)]
    )
    encoded = encode_entry(CachedResponse('"abc"', page.encode(), (("Content-Type", "application/json"),)))
    assert len(encoded) < len(page) / 4


async def test_lookups_that_keep_missing_are_sampled_until_one_is_found(
    fake_github, make_client, share, self_metrics
) -> None:
    """A cold start asks the store for every URL only until MISS_STREAK misses; a hit restores it."""
    paths = [f"/repos/acme/r{i}/pulls" for i in range(MISS_STREAK + 2 * SAMPLE_EVERY + 24)]
    for path in paths:
        fake_github.on(path, Versioned([path]))
    # Another replica collected the last paths (a unit that moves here later).
    theirs = share()
    other = await make_client(shared=theirs)
    moved = paths[-24:]
    for path in moved:
        await other.get(path, endpoint="list_pulls")
    await theirs.flush()
    misses_before = lookups(self_metrics, "miss")

    client = await make_client(shared=share())
    for path in paths[:-24]:  # nobody has these: a cold start
        await client.get(path, endpoint="list_pulls")
    asked = lookups(self_metrics, "miss") - misses_before
    assert asked == MISS_STREAK + 2  # then one in SAMPLE_EVERY: 2 of the 2 x 16 after the streak
    assert lookups(self_metrics, "skipped") == 2 * (SAMPLE_EVERY - 1)

    for path in moved:
        await client.get(path, endpoint="list_pulls")

    conditional = [fake_github.requests_to(p)[-1].headers.get("If-None-Match") for p in moved]
    # Sampled until the first hit, then every URL is looked up again.
    first_hit = conditional.index('"v1"')
    assert first_hit == SAMPLE_EVERY - 1  # the 16th URL after the last sampled one
    assert all(etag == '"v1"' for etag in conditional[first_hit:])
    assert lookups(self_metrics, "hit") == len(moved) - first_hit
