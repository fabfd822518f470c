"""The activity collector: per-repo incremental fetches into an event ledger, rolling-24h snapshots out.

One `ActivityCollector` serves one org. Each cycle it lists the org's repos (conditional, usually
free), then for every repo fetches only what changed since the repo's checkpoints (commits since,
pulls sorted by update with an early stop, reviews of PRs that changed, comments since), merges the
events into the repo's ledger and writes the repo's complete snapshot recomputed from the ledger.
Ledgers and checkpoints live in the store so a new leader continues where the old one stopped.

A repo whose fetch fails after the client's retries keeps its previous snapshot and records a
`MissedWindow`; `backfill` re-runs the same fetch code for that window. This module never decides
scheduling or leadership, and never writes window-scoped values into the live gauges.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from github_stats_exporter import metrics
from github_stats_exporter.github.activity import (
    list_commits,
    list_issue_comments,
    list_pulls_updated_since,
    list_reviews,
)
from github_stats_exporter.github.client import GitHubClient
from github_stats_exporter.github.errors import GitHubError
from github_stats_exporter.health import HealthReport
from github_stats_exporter.model import (
    ActivityReason,
    JobKind,
    MissedWindow,
    Sample,
    Snapshot,
    SnapshotKey,
    TimeWindow,
)
from github_stats_exporter.scrape import workers
from github_stats_exporter.scrape.inventory import SnapshotInventory
from github_stats_exporter.scrape.ledger import (
    MARGIN_SECONDS,
    WINDOW_SECONDS,
    EventKind,
    Ledger,
    LedgerFormatError,
    commit_user,
    user_label,
)
from github_stats_exporter.scrape.repos import Repo, RepoDirectory
from github_stats_exporter.scrape.shard import WHOLE_ORG, RepoShard
from github_stats_exporter.selfmetrics import CollectorMetrics
from github_stats_exporter.store.base import CollectionStore, StoreError

log = structlog.get_logger(__name__)

SNAPSHOT_KIND = "activity"
LEDGER_TTL_SECONDS = 3 * 86400.0
"""A ledger nobody refreshes for this long (repo gone, exporter removed) expires from the store."""
PERSIST_FETCHED_AT_EVERY = MARGIN_SECONDS / 2
"""An idle repo's ledger is rewritten only this often (to keep ``fetched_at`` fresh for a new leader)."""
COMMITS_RECHECK_SECONDS = MARGIN_SECONDS / 2
"""A repo whose ``pushed_at`` has not moved still has its commits asked at least this often."""

REASONS: dict[str, ActivityReason] = {
    "commits": ActivityReason.COMMITS_FAILED,
    "pulls": ActivityReason.PULLS_FAILED,
    "reviews": ActivityReason.REVIEWS_FAILED,
    "issue_comments": ActivityReason.ISSUE_COMMENTS_FAILED,
}
"""The backfill reason of each stream's failure."""
"""Backfill reason per stream (documented in docs/metrics.md)."""


def snapshot_key(org: str, repo: str) -> SnapshotKey:
    return SnapshotKey(SNAPSHOT_KIND, (org, repo))


def ledger_name(org: str, repo: str) -> str:
    return f"{SNAPSHOT_KIND}/ledger/{org}/{repo}"


@dataclass(slots=True)
class _RepoState:
    """What this process remembers about one repo between cycles."""

    ledger: Ledger
    rev: str | None
    reparse: bool
    """True until one full pass parsed every stream: a reloaded ledger must not trust 304s alone."""
    persisted_at: float = 0.0
    samples: tuple[Sample, ...] | None = None
    empty_at_push: float | None = None
    """The repo's ``pushed_at`` when commits last answered 409 (empty): until it changes, skip commits."""
    commits_at_push: float | None = None
    """The repo's ``pushed_at`` (from the listing) when its commits were last read successfully."""
    commits_checked_at: float = 0.0


_ABSENT = object()


@dataclass(frozen=True, slots=True)
class _LedgerRead:
    """The stored ledgers of a cycle's repos, read at once when it began, and what this process knew then."""

    records: dict[str, bytes]
    """Repo -> stored record (absent: none stored)."""
    revs: dict[str, str | None]
    """Repo -> the revision of this process's state when they were read (absent: no state yet)."""

    def current(self, repo: str, state: _RepoState | None) -> bool:
        """True when this process has not written or reloaded ``repo``'s ledger since the read."""
        before = self.revs.get(repo, _ABSENT)
        return before is _ABSENT if state is None else before == state.rev


@dataclass(slots=True)
class _Failure:
    stream: str
    start: float
    error: GitHubError

    @property
    def backfill(self) -> bool:
        """Only a failure a later attempt can cure is recorded (a 404 or a plain 403 repeats; docs/backfill.md)."""
        return self.error.transient


class _Pass:
    """Working state of one fetch pass over one repo (a cycle's or a backfill's)."""

    __slots__ = ("changed", "failures", "floor", "hi", "lo", "now", "pushed_at")

    def __init__(
        self, now: float, lo: float | None = None, hi: float | None = None, pushed_at: float | None = None
    ) -> None:
        self.now = now
        self.pushed_at = pushed_at
        self.floor = now - WINDOW_SECONDS - MARGIN_SECONDS
        self.lo = self.floor if lo is None else max(lo, self.floor)
        self.hi = hi
        self.changed = False
        self.failures: list[_Failure] = []

    def keeps(self, ts: float) -> bool:
        return ts >= self.lo and (self.hi is None or ts <= self.hi)


class ActivityCollector:
    """Rolling-24h activity of every selected repo of one org (see the module docstring)."""

    def __init__(
        self,
        client: GitHubClient,
        directory: RepoDirectory,
        store: CollectionStore,
        *,
        org: str,
        concurrency: int,
        metrics: CollectorMetrics,
        missed: Callable[[MissedWindow], Awaitable[None]],
        clock: Callable[[], float] = time.time,
        health: HealthReport | None = None,
        shard: RepoShard = WHOLE_ORG,
    ) -> None:
        if concurrency < 1:
            msg = f"concurrency must be >= 1, got {concurrency}"
            raise ValueError(msg)
        self._client = client
        self._directory = directory
        self._store = store
        self._org = org
        self._concurrency = concurrency
        self._metrics = metrics
        self._missed = missed
        self._clock = clock
        self._health = health
        self._shard = shard
        self._states: dict[str, _RepoState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._inventory = SnapshotInventory(store, SNAPSHOT_KIND, org, clock)
        self._failing: dict[str, str] = {}
        self._listing: tuple[Repo, ...] | None = None

    @property
    def org(self) -> str:
        return self._org

    @property
    def listing(self) -> tuple[Repo, ...] | None:
        """The org's selected repositories as the running or last tick listed them (every shard's);
        None before the first tick, and from the start of a tick until its listing succeeded."""
        return self._listing

    @property
    def failing_repos(self) -> dict[str, str]:
        """Repos whose last collection failed, with a short reason (for health details)."""
        return dict(self._failing)

    # --- the cycle ---------------------------------------------------------------------------------

    async def tick(self) -> bool:
        """One cycle over the org; True when the listing and every repo succeeded."""
        started = time.perf_counter()
        labels = {"org": self._org}
        # The window ends before the listing is asked: commits are skipped on the listing's pushed_at,
        # so a push while the listing is under way must fall after the window, not inside it uncounted.
        now = self._clock()
        self._listing = None
        try:
            repos = await self._directory.repos()
        except GitHubError as exc:
            log.warning("activity repo listing failed", org=self._org, error=str(exc))
            self._finish("failure", started, f"repository listing failed: {exc}")
            return False
        self._listing = tuple(repos)
        self._metrics.set(metrics.ACTIVITY_REPOS, labels, len(repos))
        if self._directory.skipped_items:
            self._metrics.inc(
                metrics.GITHUB_MALFORMED_ITEMS,
                {"org": self._org, "endpoint": "list_org_repos"},
                self._directory.skipped_items,
            )
        # What left the org is decided on the whole listing; a shard collects only its own repos.
        await self._forget_missing({r.name for r in repos})
        repos = [r for r in repos if self._shard.holds(r.repo_id, r.name)]
        read = await self._read_ledgers([r.name for r in repos])

        async def one(repo: Repo) -> bool:
            return await self._collect(repo, now, read)

        results = await workers.each(repos, self._concurrency, one)
        failed = results.count(False)
        self._metrics.set(metrics.ACTIVITY_REPOS_FAILING, labels, len(self._failing))
        self._metrics.set(
            metrics.ACTIVITY_LEDGER_EVENTS, labels, sum(len(s.ledger) for s in self._states.values())
        )
        if failed == 0:
            self._finish("success", started, "")
            return True
        result = "failure" if failed == len(results) else "partial"
        shown = ", ".join(sorted(self._failing)[:5])
        self._finish(result, started, f"{failed} of {len(results)} repositories failed ({shown})")
        return False

    async def backfill(self, repo: str, window: TimeWindow) -> None:
        """Re-fetch ``window`` of one repo into its ledger, then rewrite its snapshot from the ledger.

        Raises the first `GitHubError` (or a `StoreError`) on failure so the queue retries. A repo that is no longer
        selected (deleted, archived, outside the allowlist) is left alone.
        """
        repos = await self._directory.repos()
        match = next((r.name for r in repos if r.name.lower() == repo.lower()), None)
        if match is None:
            log.info("activity backfill for an unselected repo skipped", org=self._org, repo=repo)
            return
        async with self._lock(match):
            now = self._clock()
            state = await self._load(match, strict=False)
            run = _Pass(now, lo=window.start, hi=window.end)
            if run.hi is None or run.hi >= run.lo:
                await self._fetch(match, state, run, backfill=True)
            if run.failures:
                await self._persist(match, state, now, force=True)
                raise run.failures[0].error
            await self._persist(match, state, now, force=run.changed)
            await self._write_snapshot(match, state, now)
            self._failing.pop(match, None)

    # --- one repo ----------------------------------------------------------------------------------

    async def _collect(self, selected: Repo, now: float, read: _LedgerRead | None = None) -> bool:
        repo = selected.name
        async with self._lock(repo):
            batched = read is not None and read.current(repo, self._states.get(repo))
            try:
                state = await self._load(repo, strict=False, read=read)
            except StoreError as exc:
                self._failing[repo] = f"store: {exc}"
                log.warning("activity ledger unavailable", org=self._org, repo=repo, error=str(exc))
                return False
            run = _Pass(now, pushed_at=selected.pushed_at)
            try:
                await self._fetch(repo, state, run, backfill=False)
            except Exception:
                # A bug in one repo's data must not stop the other repos; the previous snapshot stays.
                log.exception("activity collection crashed", org=self._org, repo=repo)
                self._failing[repo] = "internal error"
                return False
            if batched and (run.changed or now - state.persisted_at >= PERSIST_FETCHED_AT_EVERY):
                # The ledger came from the cycle's read at its start; another process (a backfill on
                # another replica) may have written one since. Writing ours over it would drop what it
                # merged: leave both to it this cycle, reload and fetch again on the next.
                try:
                    if not await self._stored_revision_is(repo, state.rev):
                        self._states.pop(repo, None)
                        log.info(
                            "activity ledger written by another process meanwhile", org=self._org, repo=repo
                        )
                        return True
                except StoreError as exc:
                    self._failing[repo] = f"store: {exc}"
                    log.warning("activity ledger unavailable", org=self._org, repo=repo, error=str(exc))
                    return False
            try:
                await self._persist(repo, state, now, force=run.changed)
            except StoreError as exc:
                log.warning("activity ledger not saved", org=self._org, repo=repo, error=str(exc))
            if run.failures:
                # A page answered 304 next time must still be read: it may hold what failed (e.g. a PR
                # whose reviews were not fetched).
                state.reparse = True
                await self._record_failures(repo, run)
                return False
            state.reparse = False
            try:
                await self._write_snapshot(repo, state, now)
            except StoreError as exc:
                self._failing[repo] = f"store: {exc}"
                log.warning("activity snapshot not written", org=self._org, repo=repo, error=str(exc))
                return False
            self._failing.pop(repo, None)
            return True

    async def _fetch(self, repo: str, state: _RepoState, run: _Pass, *, backfill: bool) -> None:
        """Fetch every stream of one repo into its ledger; failures are collected in ``run.failures``."""
        await self._fetch_commits(repo, state, run, backfill=backfill)
        await self._fetch_pulls(repo, state, run, backfill=backfill)
        await self._fetch_comments(repo, state, run, backfill=backfill)
        state.ledger.trim(run.floor)

    async def _fetch_commits(self, repo: str, state: _RepoState, run: _Pass, *, backfill: bool) -> None:
        ledger = state.ledger
        since = run.lo if backfill else ledger.since_for("commits", run.now)
        if not backfill and run.pushed_at is not None and state.empty_at_push == run.pushed_at:
            # Still the empty repository of last time (no push since): a 409 would cost budget for nothing.
            ledger.advance("commits", int(since), None, run.now)
            return
        if (
            not backfill
            and not state.reparse
            and run.pushed_at is not None
            and state.commits_at_push == run.pushed_at
            and run.now - state.commits_checked_at < COMMITS_RECHECK_SECONDS
        ):
            # No push since the last read: no new commit on the default branch, and the same URL would
            # answer 304. The ledger records the same as after that 304 (since stays, fetched_at moves).
            ledger.advance("commits", int(since), None, run.now)
            return
        try:
            listing = await list_commits(
                self._client,
                self._org,
                repo,
                since=since,
                until=run.hi,
                parse_unchanged=backfill or state.reparse,
            )
        except GitHubError as exc:
            state.commits_at_push = None
            run.failures.append(_Failure("commits", since, exc))
            return
        self._count_skipped("list_commits", listing.skipped)
        state.empty_at_push = run.pushed_at if listing.empty_repo else None
        if not backfill:
            state.commits_at_push, state.commits_checked_at = run.pushed_at, run.now
        newest: float | None = None
        for c in listing.items:
            newest = c.committed_at if newest is None else max(newest, c.committed_at)
            if run.keeps(c.committed_at):
                user = commit_user(c.author_login, c.author_email, c.author_name)
                run.changed |= ledger.add(EventKind.COMMIT, c.sha, c.committed_at, user)
        if not backfill:
            run.changed |= ledger.advance("commits", int(since), newest, run.now, pages=listing.requests)

    async def _fetch_pulls(self, repo: str, state: _RepoState, run: _Pass, *, backfill: bool) -> None:
        ledger = state.ledger
        since = run.lo if backfill else ledger.since_for("pulls", run.now)
        try:
            listing = await list_pulls_updated_since(
                self._client, self._org, repo, since=since, parse_unchanged=backfill or state.reparse
            )
        except GitHubError as exc:
            run.failures.append(_Failure("pulls", since, exc))
            return
        self._count_skipped("list_pulls", listing.skipped)
        newest: float | None = None
        review_error: GitHubError | None = None
        for pr in listing.items:
            newest = pr.updated_at if newest is None else max(newest, pr.updated_at)
            user = user_label(pr.user_login)
            number = str(pr.number)
            if run.keeps(pr.created_at):
                run.changed |= ledger.add(EventKind.PR_OPENED, number, pr.created_at, user)
            if pr.merged_at is not None and run.keeps(pr.merged_at):
                run.changed |= ledger.add(EventKind.PR_MERGED, number, pr.merged_at, user)
            # Submitting a review bumps the PR's updated_at: a PR unchanged since its reviews were
            # last read, or last updated before the window, cannot hold a review we still need.
            if pr.updated_at < run.lo:
                continue
            if not backfill and ledger.pr_reviewed.get(pr.number, -1.0) >= pr.updated_at:
                continue
            try:
                reviews = await list_reviews(self._client, self._org, repo, pr.number)
            except GitHubError as exc:
                review_error = exc
                continue
            self._count_skipped("list_reviews", reviews.skipped)
            for r in reviews.items:
                if r.state == "PENDING" or r.submitted_at is None or not run.keeps(r.submitted_at):
                    continue
                user = user_label(r.user_login)
                run.changed |= ledger.add(EventKind.REVIEW, r.id, r.submitted_at, user)
            if not backfill:
                ledger.pr_reviewed[pr.number] = pr.updated_at
        if review_error is not None:
            # The pulls checkpoint stays, so the next cycle asks for the missing reviews again.
            run.failures.append(_Failure("reviews", since, review_error))
            return
        if not backfill:
            run.changed |= ledger.advance("pulls", int(since), newest, run.now, pages=listing.requests)

    async def _fetch_comments(self, repo: str, state: _RepoState, run: _Pass, *, backfill: bool) -> None:
        ledger = state.ledger
        since = run.lo if backfill else ledger.since_for("comments", run.now)
        try:
            listing = await list_issue_comments(
                self._client, self._org, repo, since=since, parse_unchanged=backfill or state.reparse
            )
        except GitHubError as exc:
            run.failures.append(_Failure("issue_comments", since, exc))
            return
        self._count_skipped("list_issue_comments", listing.skipped)
        newest: float | None = None
        for cm in listing.items:
            newest = cm.updated_at if newest is None else max(newest, cm.updated_at)
            if run.keeps(cm.created_at):
                run.changed |= ledger.add(EventKind.COMMENT, cm.id, cm.created_at, user_label(cm.user_login))
        if not backfill:
            run.changed |= ledger.advance("comments", int(since), newest, run.now, pages=listing.requests)

    # --- store -------------------------------------------------------------------------------------

    async def _read_ledgers(self, repos: list[str]) -> _LedgerRead | None:
        """Every repo's stored ledger in a few round trips (None when the store did not answer: then each
        repo reads its own, and reports the failure itself)."""
        seen = {repo: state.rev for repo in repos if (state := self._states.get(repo)) is not None}
        try:
            records = await self._store.get_checkpoints([ledger_name(self._org, repo) for repo in repos])
        except StoreError as exc:
            log.warning("activity ledgers not read at once", org=self._org, error=str(exc))
            return None
        prefix = len(ledger_name(self._org, ""))
        return _LedgerRead({name[prefix:]: record for name, record in records.items()}, seen)

    async def _load(self, repo: str, *, strict: bool, read: _LedgerRead | None = None) -> _RepoState:
        """The repo's state; re-read from the store when another process wrote a newer ledger.

        With ``read`` (the cycle's ledgers, read at its start) the stored record comes from there,
        unless this process wrote or reloaded the repo's ledger since (a backfill): then it is read again.
        """
        state = self._states.get(repo)
        if read is not None and read.current(repo, state):
            record = read.records.get(repo)
        else:
            record = await self._store.get_checkpoint(ledger_name(self._org, repo))
        rev = Ledger.revision(record) if record is not None else None
        if state is not None and (record is None or rev == state.rev):
            return state
        ledger: Ledger | None = None
        if record is not None:
            try:
                ledger = Ledger.from_record(record)
            except LedgerFormatError as exc:
                if strict:
                    raise
                log.warning("activity ledger discarded", org=self._org, repo=repo, error=str(exc))
        fresh = _RepoState(ledger or Ledger(), rev, reparse=True)
        if state is not None:
            fresh.samples = state.samples
        self._states[repo] = fresh
        return fresh

    async def _stored_revision_is(self, repo: str, rev: str | None) -> bool:
        """True when the store holds the ledger revision ``rev`` of ``repo`` (or no ledger at all)."""
        record = await self._store.get_checkpoint(ledger_name(self._org, repo))
        return record is None or Ledger.revision(record) == rev

    async def _persist(self, repo: str, state: _RepoState, now: float, *, force: bool) -> None:
        if not force and now - state.persisted_at < PERSIST_FETCHED_AT_EVERY:
            return
        rev = uuid.uuid4().hex
        await self._store.set_checkpoint(
            ledger_name(self._org, repo), state.ledger.to_record(rev), ttl_seconds=LEDGER_TTL_SECONDS
        )
        state.rev = rev
        state.persisted_at = now

    async def _write_snapshot(self, repo: str, state: _RepoState, now: float) -> None:
        if state.samples is not None and state.ledger.unchanged_since_samples(now):
            return
        samples = state.ledger.samples(self._org, repo, now)
        if samples == state.samples:
            return
        await self._store.put(Snapshot(snapshot_key(self._org, repo), samples, produced_at=now))
        state.samples = samples

    async def _forget_missing(self, current: set[str]) -> None:
        """Delete the snapshot and ledger of repos that left the selection (deleted, archived, allowlist)."""
        await self._inventory.sweep(current, self._remove)

    async def _remove(self, repo: str) -> None:
        """Delete one removed repo's snapshot and ledger, then what this process kept of it."""
        await self._store.delete(snapshot_key(self._org, repo))
        await self._store.delete_checkpoint(ledger_name(self._org, repo))
        self._states.pop(repo, None)
        self._failing.pop(repo, None)
        log.info("activity repo no longer selected; series removed", org=self._org, repo=repo)

    # --- reporting ---------------------------------------------------------------------------------

    async def _record_failures(self, repo: str, run: _Pass) -> None:
        self._failing[repo] = ", ".join(f"{f.stream}: {f.error}"[:200] for f in run.failures)
        for failure in run.failures:
            self._metrics.inc(metrics.ACTIVITY_REPO_FAILURES, {"org": self._org, "stream": failure.stream})
            log.warning(
                "activity fetch failed",
                org=self._org,
                repo=repo,
                stream=failure.stream,
                error=str(failure.error),
            )
            if not failure.backfill:
                continue
            # A checkpoint written by a leader whose clock ran ahead may lie after our "now".
            start = min(max(failure.start, run.floor), run.now)
            window = MissedWindow(
                kind=JobKind.ACTIVITY,
                scope="org",
                scope_id=self._org,
                target=repo,
                reason=REASONS[failure.stream],
                window=TimeWindow(start, run.now),
            )
            try:
                await self._missed(window)
            except Exception:
                # The backfill queue being down must not fail collection; the next cycle retries anyway.
                log.exception(
                    "missed window not recorded", org=self._org, repo=repo, reason=str(window.reason)
                )

    def _count_skipped(self, endpoint: str, skipped: int) -> None:
        if skipped:
            self._metrics.inc(
                metrics.GITHUB_MALFORMED_ITEMS, {"org": self._org, "endpoint": endpoint}, skipped
            )
            log.warning("malformed items skipped", org=self._org, endpoint=endpoint, skipped=skipped)

    def _finish(self, result: str, started: float, detail: str) -> None:
        self._metrics.inc(metrics.SCRAPE_RUNS, {"org": self._org, "result": result})
        self._metrics.set(metrics.SCRAPE_DURATION, {"org": self._org}, time.perf_counter() - started)
        self._metrics.set(metrics.LEADER_CYCLE_LAST_RUN, None, self._clock())
        if self._health is not None:
            member = "" if self._shard.whole else self._shard.label
            self._health.report(self.health_component, member, result == "success", detail)

    @property
    def health_component(self) -> str:
        """The health component this collector reports on."""
        return f"activity:{self._org}"

    def _lock(self, repo: str) -> asyncio.Lock:
        lock = self._locks.get(repo)
        if lock is None:
            lock = self._locks[repo] = asyncio.Lock()
        return lock
