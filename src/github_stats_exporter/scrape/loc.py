"""Weekly lines of code per repository: `stats/contributors`, its 202 warm-up, and commit sampling for huge repos.

`LocCollector.tick` is one pass over an org: every repo that is *due* (see `locstate.is_due`) gets its
LOC refreshed and its complete snapshot ``loc/<org>/<repo>`` replaced; repos that are not due cost no
request. Per-repo state, the fallback's commit-detail cache and the org's hourly detail budget live in
the store, so a restart or a new leader carries on; the budget is granted atomically by the store, so
every shard of the org draws from it without overspending. Failures after the client's retries keep the old
snapshot and are reported (self-metrics, `failed`, a `MissedWindow` for backfill); a 202 or a 204 is
not a failure. This module does I/O and bookkeeping; the decisions are pure functions in `locstate`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import structlog

from github_stats_exporter import metrics
from github_stats_exporter.config import LocConfig
from github_stats_exporter.errors import ExporterError
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.errors import GitHubError
from github_stats_exporter.github.stats import (
    COMMIT_ENDPOINT,
    LIST_COMMITS_ENDPOINT,
    STATS_ENDPOINT,
    CommitRef,
    CommitStats,
    commit_stats,
    commits_since,
    contributor_stats,
)
from github_stats_exporter.health import HealthReport
from github_stats_exporter.model import JobKind, LocReason, MissedWindow, Snapshot, SnapshotKey, TimeWindow
from github_stats_exporter.scrape import workers
from github_stats_exporter.scrape.inventory import SnapshotInventory
from github_stats_exporter.scrape.locstate import (
    FALLBACK,
    HOUR_SECONDS,
    PRIMARY,
    WEEK_SECONDS,
    LocPolicy,
    LocState,
    WeekTotals,
    cached_commit,
    current_mode,
    decode_cache,
    encode_cache,
    hour_bucket,
    is_due,
    loc_samples,
    loc_week,
    observe,
    sampled_totals,
    week_commits,
    week_totals,
)
from github_stats_exporter.scrape.shard import WHOLE_ORG, RepoShard
from github_stats_exporter.selfmetrics import CollectorMetrics
from github_stats_exporter.store.base import CollectionStore, StoreError

log = structlog.get_logger(__name__)

SNAPSHOT_KIND = "loc"
TICK_REPOLL_DELAYS = (2.0, 4.0, 8.0)
"""Re-polls of 202 answers inside one tick; whatever still computes is asked again next cycle."""
SETTLE_FIRST_DELAY = 2.0
SETTLE_MAX_DELAY = 60.0

Outcome = Literal[
    "skipped",
    "stats_contributors",
    "sampled_commit_stats",
    "unchanged_idle",
    "held_zeroed",
    "warming",
    "empty",
    "failed",
]
MissedSink = Callable[[MissedWindow], Awaitable[None]]


class RepoRef(Protocol):
    """What the collector needs to know about a repo (`scrape.repos.Repo` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def default_branch(self) -> str: ...
    @property
    def pushed_at(self) -> float | None: ...
    @property
    def repo_id(self) -> int | None: ...


class RepoSource(Protocol):
    """The org's selected repos (`scrape.repos.RepoDirectory`)."""

    async def repos(self) -> Sequence[RepoRef]: ...


class LocCollectionError(ExporterError):
    """A backfill could not recompute a repo's LOC (the cause is chained, and decides if it is permanent)."""


def policy_from_config(settings: LocConfig) -> LocPolicy:
    """The ``loc`` section as the plain numbers the state machine uses."""
    return LocPolicy(
        refresh_interval=settings.refresh_interval.total_seconds(),
        fallback_enabled=settings.fallback_enabled,
        max_commits_per_week=settings.fallback_max_commits_per_repo_per_week,
        detail_calls_per_hour=settings.fallback_max_commit_detail_calls_per_org_per_hour,
        zero_detection_windows=settings.large_repo_zero_detection_windows,
        cooldown=settings.large_repo_cooldown.total_seconds(),
    )


@dataclass(frozen=True, slots=True)
class _StateRead:
    """The stored states of a pass's repos, read at once when it began."""

    records: dict[str, bytes | None]
    """Repo -> its stored record (None: none stored)."""
    writes: dict[str, int]
    """Repo -> how many times this process had written its state when they were read."""


class LocCollector:
    """Weekly LOC of one org's repos into ``loc/<org>/<repo>`` snapshots."""

    def __init__(
        self,
        client: GitHubClient,
        directory: RepoSource,
        store: CollectionStore,
        *,
        org: str,
        settings: LocConfig,
        concurrency: int,
        metrics: CollectorMetrics,
        missed: MissedSink,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        repoll_delays: Sequence[float] = TICK_REPOLL_DELAYS,
        health: HealthReport | None = None,
        shard: RepoShard = WHOLE_ORG,
    ) -> None:
        if concurrency < 1:
            msg = f"concurrency must be >= 1, got {concurrency}"
            raise ValueError(msg)
        self._health = health
        self._client = client
        self._directory = directory
        self._store = store
        self._org = org
        self._policy = policy_from_config(settings)
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._metrics = metrics
        self._missed = missed
        self._clock = clock
        self._sleep = sleep
        self._repoll_delays = tuple(repoll_delays)
        self._shard = shard
        self._repos: dict[str, RepoRef] = {}
        self._listed: frozenset[str] = frozenset()
        """Every listed repo of the org, this shard's or not: what is gone is decided on the whole listing."""
        self._inventory = SnapshotInventory(store, SNAPSHOT_KIND, org, clock)
        self._warming: set[str] = set()
        self._failed: set[str] = set()
        self._errors: dict[str, GitHubError] = {}
        """The failure of each repo's last refresh, for the backfill that asked for it."""
        self._writes: dict[str, int] = {}
        """Writes of each repo's state by this process: a pass's read is current while the count stands."""

    @property
    def policy(self) -> LocPolicy:
        return self._policy

    @property
    def warming(self) -> frozenset[str]:
        """Repos whose stats GitHub was still computing (202) at the end of the last pass."""
        return frozenset(self._warming)

    @property
    def failed(self) -> frozenset[str]:
        """Repos whose last refresh failed after retries (they keep their previous snapshot)."""
        return frozenset(self._failed)

    # --- public entry points -----------------------------------------------------------------------

    async def tick(self, listing: Sequence[RepoRef] | None = None) -> bool:
        """One pass over the org; True when the listing and every refresh that was due succeeded.

        ``listing`` is the org's listing this cycle already fetched (the activity tick's, run just
        before); without one the pass lists the org itself. A listing a few seconds old is as good
        as a new one here: a push it does not show yet only delays that repository's refresh by one
        refresh interval, as a push right after a fresh listing would (docs/architecture.md,
        "The composition root").
        """
        try:
            repos = list(listing if listing is not None else await self._directory.repos())
        except GitHubError as exc:
            log.warning("loc repo listing failed", org=self._org, error=str(exc))
            self._report(healthy=False, detail=f"repository listing: {exc}")
            return False
        self._listed = frozenset(r.name for r in repos)
        self._repos = {r.name: r for r in repos if self._shard.holds(r.repo_id, r.name)}
        await self._forget_gone()
        await self._pass(sorted(self._repos), force=False)
        for delay in self._repoll_delays:
            if not self._warming:
                break
            await self._sleep(delay)
            await self._pass(sorted(self._warming), force=False)
        self._export_gauges()
        failed = sorted(self._failed)
        self._report(healthy=not failed, detail=f"failed: {', '.join(failed)}" if failed else "")
        return not self._failed

    @property
    def health_component(self) -> str:
        """The health component this collector reports on."""
        return f"loc:{self._org}"

    def _report(self, *, healthy: bool, detail: str) -> None:
        if self._health is not None:
            member = "" if self._shard.whole else self._shard.label
            self._health.report(self.health_component, member, healthy, detail)

    async def settle(self, timeout: float) -> bool:  # noqa: ASYNC109 - bounds injected sleeps, not a wall clock
        """Re-poll repos still answering 202 (2, 4, 8 … 60 s apart) until none is left or ``timeout`` passes.

        For ``once``: a single run then yields complete LOC. Returns True when nothing is warming.
        """
        started = self._clock()
        waited = 0.0
        delay = SETTLE_FIRST_DELAY
        while self._warming:
            # Sleeps count even when the injected clock stands still, so the bound always holds.
            left = timeout - max(waited, self._clock() - started)
            if left <= 0:
                break
            step = min(delay, left)
            await self._sleep(step)
            waited += step
            await self._pass(sorted(self._warming), force=False)
            delay = min(delay * 2, SETTLE_MAX_DELAY)
        self._export_gauges()
        return not self._warming

    async def backfill(self, repo: str) -> None:
        """Recompute one repo's LOC now, whatever its schedule; raises `LocCollectionError` on failure.

        A repo that left the listing is forgotten (its series disappear); one whose stats are still
        computing after the bounded re-polls is left to the regular cycle (not an error).
        """
        try:
            repos = await self._directory.repos()
        except GitHubError as exc:
            msg = f"loc backfill of {self._org}/{repo}: repo listing failed"
            raise LocCollectionError(msg) from exc
        found = next((r for r in repos if r.name == repo), None)
        if found is None:
            await self._forget(repo)
            return
        self._repos[repo] = found
        self._errors.pop(repo, None)  # only this backfill's own failure may explain it
        outcome = await self._refresh(found, force=True, record_missed=False)
        for delay in self._repoll_delays:
            if outcome != "warming":
                break
            await self._sleep(delay)
            outcome = await self._refresh(found, force=True, record_missed=False)
        self._export_gauges()
        error = self._errors.pop(repo, None)
        if outcome == "failed":
            msg = f"loc backfill of {self._org}/{repo} failed: {error}"
            raise LocCollectionError(msg) from error

    # --- one pass ------------------------------------------------------------------------------------

    async def _pass(self, names: Sequence[str], *, force: bool) -> None:
        read = await self._read_states([name for name in names if name in self._repos])

        async def one(name: str) -> None:
            repo = self._repos.get(name)
            if repo is None:
                self._warming.discard(name)
                return
            async with self._slots:
                await self._refresh(repo, force=force, record_missed=True, read=read)

        await workers.each(names, self._concurrency, one)

    async def _refresh(
        self, repo: RepoRef, *, force: bool, record_missed: bool, read: _StateRead | None = None
    ) -> Outcome:
        try:
            outcome = await self._refresh_repo(repo, force=force, record_missed=record_missed, read=read)
        except StoreError as exc:
            # The store is shared state: without it nothing can be saved, so retry next cycle.
            log.warning("loc store access failed", org=self._org, repo=repo.name, error=str(exc))
            outcome = "failed"
        if outcome != "skipped":
            self._metrics.inc(metrics.LOC_REFRESHES, {"org": self._org, "result": outcome})
        if outcome == "warming":
            self._warming.add(repo.name)
        elif outcome != "skipped":
            self._warming.discard(repo.name)
        if outcome == "failed":
            self._failed.add(repo.name)
        elif outcome != "skipped":
            self._failed.discard(repo.name)
        return outcome

    async def _refresh_repo(
        self, repo: RepoRef, *, force: bool, record_missed: bool, read: _StateRead | None
    ) -> Outcome:
        name = repo.name
        now = self._clock()
        week = loc_week(now)
        state = current_mode(await self._load_state(name, read), now, self._policy)
        if not force and not is_due(state, now, week, self._policy):
            return "skipped"
        if repo.pushed_at is not None and repo.pushed_at < week:
            # Nothing reached GitHub since the week began, so no commit can be authored in it: no request.
            await self._store.delete(self._key(name))
            await self._save_state(name, self._refreshed(state, now, week, more=False))
            return "unchanged_idle"
        if state.mode == FALLBACK:
            return await self._sample(repo, state, now, week, force=force, record_missed=record_missed)
        return await self._primary(repo, state, now, week, record_missed=record_missed)

    async def _primary(
        self, repo: RepoRef, state: LocState, now: float, week: int, *, record_missed: bool
    ) -> Outcome:
        name = repo.name
        try:
            answer = await contributor_stats(self._client, self._org, name)
        except GitHubError as exc:
            return await self._fail(name, state, week, LocReason.CONTRIBUTOR_STATS_FAILED, exc, record_missed)
        self._malformed(STATS_ENDPOINT, answer.skipped)
        if answer.status == "computing":
            await self._save_state(name, replace(state, warming=True))
            return "warming"
        if answer.status == "empty":
            await self._store.delete(self._key(name))
            await self._save_state(
                name, self._refreshed(replace(state, zero_windows=0), now, week, more=False)
            )
            return "empty"
        totals = week_totals(answer.contributors, week)
        observed, verdict = observe(state, totals.zeroed, now, self._policy)
        if verdict == "hold":
            # Zeros not yet confirmed as GitHub's large-repo zeroing: keep the old values meanwhile.
            await self._save_state(name, replace(observed, warming=False, failed=False))
            return "held_zeroed"
        if verdict == "fallback":
            log.info(
                "loc switching to commit sampling",
                org=self._org,
                repo=name,
                windows=observed.zero_windows,
                until=observed.fallback_until,
            )
            await self._save_state(name, replace(observed, warming=False))
            return await self._sample(repo, observed, now, week, force=True, record_missed=record_missed)
        await self._put(name, totals, now, week, mode=PRIMARY, incomplete=False)
        await self._save_state(name, self._refreshed(observed, now, week, more=False))
        return "stats_contributors"

    async def _sample(
        self, repo: RepoRef, state: LocState, now: float, week: int, *, force: bool, record_missed: bool
    ) -> Outcome:
        """Commit sampling over the same week: list, detail what is not cached (within budget), sum."""
        name = repo.name
        hour = hour_bucket(now)
        if (
            not force
            and state.more
            and state.week == week
            and await self._budget_used(hour) >= self._policy.detail_calls_per_hour
        ):
            return "skipped"  # nothing affordable before the next clock hour; not even the listing
        try:
            listing = await commits_since(
                self._client, self._org, name, branch=repo.default_branch, since=week
            )
        except GitHubError as exc:
            return await self._fail(
                name, state, week, LocReason.FALLBACK_LIST_COMMITS_FAILED, exc, record_missed
            )
        self._malformed(LIST_COMMITS_ENDPOINT, listing.skipped)
        # Listed by commit date from the week start on, kept by author date: the week stats/contributors
        # reports (a rebased commit is committed after the week it was authored in).
        chosen = week_commits(listing.items, week)
        selected = chosen[: self._policy.max_commits_per_week]
        capped = len(selected) < len(chosen) or listing.truncated
        cache_name = self._cache_name(name, week)
        cache = decode_cache(await self._store.get_checkpoint(cache_name), week)
        todo = [ref for ref in selected if ref.sha not in cache]
        granted = await self._reserve(hour, len(todo))
        if granted < len(todo):
            self._metrics.inc(metrics.LOC_FALLBACK_BUDGET_EXHAUSTED, {"org": self._org})
            log.info(
                "loc commit-detail budget exhausted",
                org=self._org,
                repo=name,
                wanted=len(todo),
                granted=granted,
            )
        details, error = await self._details(name, todo[:granted])
        for ref, detail in details:
            cache[ref.sha] = cached_commit(ref, detail)
        if details:
            ttl = max(week + 2 * WEEK_SECONDS - now, 0) + HOUR_SECONDS
            await self._store.set_checkpoint(cache_name, encode_cache(week, cache), ttl_seconds=ttl)
        if error is not None:
            return await self._fail(
                name, state, week, LocReason.FALLBACK_COMMIT_DETAIL_FAILED, error, record_missed
            )
        totals, gaps = sampled_totals(selected, cache)
        await self._put(name, totals, now, week, mode=FALLBACK, incomplete=capped or gaps > 0)
        await self._save_state(name, self._refreshed(state, now, week, more=granted < len(todo)))
        return "sampled_commit_stats"

    async def _details(
        self, name: str, refs: Sequence[CommitRef]
    ) -> tuple[list[tuple[CommitRef, CommitStats]], GitHubError | None]:
        """Fetch commit details concurrently; the successes are kept even when some fail."""
        gate = asyncio.Semaphore(self._concurrency)

        async def one(ref: CommitRef) -> CommitStats:
            async with gate:
                return await commit_stats(self._client, self._org, name, ref.sha)

        results = await asyncio.gather(*(one(ref) for ref in refs), return_exceptions=True)
        done: list[tuple[CommitRef, CommitStats]] = []
        error: GitHubError | None = None
        for ref, result in zip(refs, results, strict=True):
            if isinstance(result, CommitStats):
                self._malformed(COMMIT_ENDPOINT, 0 if result.valid else 1)
                done.append((ref, result))
            elif isinstance(result, GitHubError):
                error = error or result
            else:
                raise result  # cancellation or a bug: never swallowed
        return done, error

    # --- failures, budget, store records -----------------------------------------------------------

    async def _fail(
        self, name: str, state: LocState, week: int, reason: LocReason, exc: GitHubError, record_missed: bool
    ) -> Outcome:
        log.warning("loc refresh failed", org=self._org, repo=name, reason=str(reason), error=str(exc))
        await self._save_state(name, replace(state, warming=False, failed=True))
        self._errors[name] = exc
        # Only a failure a later attempt can cure is worth a backfill job (see docs/backfill.md).
        if record_missed and exc.transient:
            window = MissedWindow(
                kind=JobKind.LOC,
                scope="org",
                scope_id=self._org,
                target=name,
                reason=reason,
                window=TimeWindow(float(week), float(week + WEEK_SECONDS)),
            )
            await self._missed(window)
        return "failed"

    async def _budget_used(self, hour: int) -> int:
        return await self._store.budget_used(self._budget_name(hour))

    async def _reserve(self, hour: int, wanted: int) -> int:
        """Book up to ``wanted`` detail calls in this clock hour's org budget; returns how many were granted.

        One atomic grant in the store, so every shard of the org (on any replica) together stays within
        the budget. Booked before the calls are made: a crash mid-way over-counts, never overspends.
        """
        if wanted <= 0:
            return 0
        cap = self._policy.detail_calls_per_hour
        return await self._store.take_budget(self._budget_name(hour), wanted, cap, 2 * HOUR_SECONDS)

    def _refreshed(self, state: LocState, now: float, week: int, *, more: bool) -> LocState:
        return replace(state, last_refresh=now, week=week, warming=False, failed=False, more=more)

    async def _put(
        self, name: str, totals: WeekTotals, now: float, week: int, *, mode: str, incomplete: bool
    ) -> None:
        samples = loc_samples(self._org, name, totals, mode=mode, incomplete=incomplete)
        meta = {"week_start": str(week), "mode": mode, "incomplete": "1" if incomplete else "0"}
        await self._store.put(Snapshot(self._key(name), samples, produced_at=now, meta=meta))

    async def _read_states(self, names: Sequence[str]) -> _StateRead | None:
        """Every repo's stored state in a few round trips (None when the store did not answer: then each
        repo reads its own, and reports the failure itself)."""
        writes = {name: self._writes[name] for name in names if name in self._writes}
        try:
            records = await self._store.get_checkpoints([self._state_name(name) for name in names])
        except StoreError as exc:
            log.warning("loc states not read at once", org=self._org, error=str(exc))
            return None
        return _StateRead({name: records.get(self._state_name(name)) for name in names}, writes)

    async def _load_state(self, name: str, read: _StateRead | None = None) -> LocState:
        """The repo's stored state: from ``read`` (the pass's, read at its start) unless this process
        wrote it since (a backfill, a re-poll), else from the store."""
        if (
            read is not None
            and name in read.records
            and read.writes.get(name, 0) == self._writes.get(name, 0)
        ):
            return LocState.from_record(read.records[name])
        return LocState.from_record(await self._store.get_checkpoint(self._state_name(name)))

    async def _save_state(self, name: str, state: LocState) -> None:
        # Outlives the cooldown and the refresh interval, then expires with the repo if it disappears.
        ttl = max(self._policy.cooldown, self._policy.refresh_interval) + 2 * WEEK_SECONDS
        try:
            await self._store.set_checkpoint(self._state_name(name), state.to_record(), ttl_seconds=ttl)
        finally:
            self._wrote(name)

    def _wrote(self, name: str) -> None:
        """Count a write (or delete) of ``name``'s state: a pass's earlier read of it is stale now."""
        self._writes[name] = self._writes.get(name, 0) + 1

    async def _forget_gone(self) -> None:
        """Delete the snapshots (and state) of repos that left the listing.

        A store that fails here only delays the removal: the repo stays known and the next pass tries
        again, while this pass still collects (`SnapshotInventory.sweep`, as for activity).
        """
        await self._inventory.sweep(self._listed, self._forget)
        for name in list(self._warming | self._failed):
            if name not in self._repos:
                self._warming.discard(name)
                self._failed.discard(name)

    async def _forget(self, name: str) -> None:
        log.info("loc repo left the listing", org=self._org, repo=name)
        await self._store.delete(self._key(name))
        try:
            await self._store.delete_checkpoint(self._state_name(name))
        finally:
            self._wrote(name)
        for cache_name in await self._store.checkpoint_names(self._cache_name(name, None)):
            await self._store.delete_checkpoint(cache_name)
        self._repos.pop(name, None)
        self._warming.discard(name)
        self._failed.discard(name)
        self._inventory.forget(name)

    def _malformed(self, endpoint: str, count: int) -> None:
        if count:
            self._metrics.inc(metrics.LOC_MALFORMED_ITEMS, {"org": self._org, "endpoint": endpoint}, count)

    def _export_gauges(self) -> None:
        self._metrics.set(metrics.LOC_REPOS_WARMING, {"org": self._org}, len(self._warming))
        self._metrics.set(metrics.LOC_REPOS_FAILED, {"org": self._org}, len(self._failed))

    def _key(self, name: str) -> SnapshotKey:
        return SnapshotKey(SNAPSHOT_KIND, (self._org, name))

    def _state_name(self, name: str) -> str:
        return f"loc/{self._org}/{name}/state"

    def _cache_name(self, name: str, week: int | None) -> str:
        """The commit cache of one week; without a week, the prefix of all the repo's caches."""
        return f"loc/{self._org}/{name}/commits/{'' if week is None else week}"

    def _budget_name(self, hour: int) -> str:
        return f"loc/{self._org}/{hour}"
