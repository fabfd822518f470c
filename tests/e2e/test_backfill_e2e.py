"""Backfill end to end: simulator faults → missed windows → dispatcher → queue → workers → collectors → truth.

The real client, collectors, dispatcher, in-process queue and workers run against the simulator; faults
make collection fail past the client's retries, the dispatcher turns the misses into jobs, and the
workers' retries outlast the faults. Afterwards the exported values equal the ground truth exactly and
the DLQ holds only the job that can never succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

import aiohttp
import pytest

from github_stats_exporter import metrics
from github_stats_exporter.backfill.base import DLQ_REASON_HEADER, Delivery
from github_stats_exporter.backfill.dispatcher import Dispatcher
from github_stats_exporter.backfill.handlers import CollectorHandlers
from github_stats_exporter.backfill.jobs import decode_job
from github_stats_exporter.backfill.memory import MemoryJobQueue
from github_stats_exporter.backfill.worker import BackfillWorker, Result
from github_stats_exporter.config import CopilotConfig
from github_stats_exporter.github.auth import AppAuth
from github_stats_exporter.github.client import ClientOptions, GitHubClient
from github_stats_exporter.github.copilot import ReportDownloader, download_hosts_for
from github_stats_exporter.model import (
    ActivityReason,
    DayWindow,
    JobKind,
    MissedWindow,
    Sample,
    SnapshotKey,
    TimeWindow,
)
from github_stats_exporter.scrape.activity import ActivityCollector
from github_stats_exporter.scrape.copilot import CopilotCollector, CopilotOptions
from github_stats_exporter.scrape.copilot_map import LabelPolicy, MapOptions
from github_stats_exporter.scrape.repos import RepoDirectory
from github_stats_exporter.selfmetrics import SelfMetrics
from github_stats_exporter.simulator.clock import SimClock
from github_stats_exporter.simulator.copilot_truth import copilot_truth
from github_stats_exporter.simulator.faults import FaultRule
from github_stats_exporter.simulator.keys import generate_key_pair
from github_stats_exporter.simulator.server import Simulator
from github_stats_exporter.simulator.spec import OrgSpec, WorldSpec
from github_stats_exporter.simulator.truth import activity_truth
from github_stats_exporter.store.memory import MemorySnapshotStore

pytestmark = pytest.mark.e2e

START = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
END_DAY = date(2026, 5, 26)  # newest complete Copilot report day
ORG = "acme"
APP_ID, INSTALLATION = 11, 21
DELAYS = (0.01, 0.02, 0.04)
ACTIVITY = frozenset(
    s.name
    for s in (
        metrics.ACTIVITY_COMMITS,
        metrics.ACTIVITY_PRS_OPENED,
        metrics.ACTIVITY_PRS_MERGED,
        metrics.ACTIVITY_REVIEWS,
        metrics.ACTIVITY_ISSUE_COMMENTS,
        metrics.ACTIVITY_LAST_EVENT,
    )
)


def world() -> WorldSpec:
    return WorldSpec(
        seed=5,
        orgs=(OrgSpec(ORG, repos=8, users=8, app_id=APP_ID, installation_id=INSTALLATION),),
        start=START,
        history_days=10,
        future_days=3,
        commits_per_day=12.0,
        prs_per_day=8.0,
    )


class CountingWorker(BackfillWorker):
    """The real worker, remembering how each delivery ended (so a test knows when all jobs are done)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.results: list[Result] = []

    async def process(self, delivery: Delivery) -> Result:
        result = await super().process(delivery)
        self.results.append(result)
        return result

    def finished(self) -> int:
        terminal = {
            Result.PROCESSED,
            Result.DEAD_LETTERED,
            Result.EXPIRED,
            Result.DUPLICATE,
            Result.MALFORMED,
        }
        return sum(1 for r in self.results if r in terminal)


@dataclass
class Env:
    sim: Simulator
    clock: SimClock
    store: MemorySnapshotStore
    metrics: SelfMetrics
    client: GitHubClient
    downloader: ReportDownloader
    queue: MemoryJobQueue
    dispatcher: Dispatcher

    def worker(self, handlers: CollectorHandlers) -> CountingWorker:
        return CountingWorker(
            self.queue,
            handlers.registry(),
            self.store,
            self.metrics,
            requeue_delays=DELAYS,
            max_message_age=24 * 3600,
            clock=self.clock.now,
        )

    def processed(self, kind: str, result: str, org: str = ORG) -> float:
        return self.metrics.value(metrics.BACKFILL_PROCESSED, {"org": org, "kind": kind, "result": result})


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_key_pair()


@pytest.fixture
async def env(keys: tuple[str, str]) -> AsyncIterator[Env]:
    clock = SimClock(frozen_at=START)
    async with (
        Simulator(world(), clock=clock, prewarm=True) as sim,
        aiohttp.ClientSession() as session,
        ReportDownloader(timeout=10.0, allowed_hosts=download_hosts_for(sim.api_url)) as downloader,
    ):
        sim.add_app(APP_ID, keys[1])
        self_metrics = SelfMetrics()
        auth = AppAuth(
            APP_ID,
            INSTALLATION,
            keys[0],
            api_base_url=sim.api_url,
            session=session,
            clock=clock.now,
            user_agent="backfill-e2e",
            api_version="2022-11-28",
        )
        options = ClientOptions(base_url=sim.api_url, max_attempts=2, initial_backoff=0.001, jitter=False)
        client = GitHubClient(
            options, auth, org=ORG, metrics=self_metrics, session=session, sleep=_no_sleep, clock=clock.now
        )
        store = MemorySnapshotStore(clock=clock.now)
        queue = MemoryJobQueue(clock=clock.now)
        dispatcher = Dispatcher(
            queue,
            store,
            self_metrics,
            coalesce_window=900,
            dedup_ttl=12 * 3600,
            max_per_org_per_minute=0,
            max_message_age=24 * 3600,
            clock=clock.now,
        )
        yield Env(sim, clock, store, self_metrics, client, downloader, queue, dispatcher)
        await queue.close()


async def drain(env: Env, worker: CountingWorker, jobs: int) -> None:
    """Run the worker until every job has reached a final outcome and nothing waits in the queue."""
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(4000):
            stats = await env.queue.stats()
            if worker.finished() >= jobs and stats.depth == 0 and not any(stats.retry_depths.values()):
                return
            await asyncio.sleep(0.005)
        msg = "the backfill queue never drained"
        raise AssertionError(msg)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def exported_activity(env: Env) -> dict[tuple[str, str, str, str], float]:
    keys = [k for k in await env.store.versions() if k.kind == "activity"]
    out: dict[tuple[str, str, str, str], float] = {}
    for snap in (await env.store.get_many(keys)).values():
        for s in snap.samples:
            out[s.name, s.label("org") or "", s.label("repo") or "", s.label("user") or ""] = s.value
    return out


def activity_truth_now(env: Env) -> dict[tuple[str, str, str, str], float]:
    return {k: v for k, v in activity_truth(env.sim.world, env.clock.now()).items() if k[0] in ACTIVITY}


async def test_activity_windows_missed_under_faults_are_recovered_through_the_queue(env: Env) -> None:
    """Persistent 5xx on two streams → missed windows → queued jobs retried until the faults end → truth."""
    directory = RepoDirectory(env.client, ORG, allowlist=("*",), include_archived=False)
    collector = ActivityCollector(
        env.client,
        directory,
        env.store,
        org=ORG,
        concurrency=4,
        metrics=env.metrics,
        missed=env.dispatcher.record,
        clock=env.clock.now,
    )
    assert await collector.tick()
    env.clock.advance(2 * 3600.0)
    activity: dict[str, float] = {}
    for (_, _, repo, _), value in activity_truth_now(env).items():
        activity[repo] = activity.get(repo, 0) + value
    repos = sorted(activity, key=lambda r: -activity[r])
    faults = [
        (rf"/repos/{ORG}/{repos[0]}/pulls(\?|$)", 503),
        (rf"/repos/{ORG}/{repos[1]}/issues/comments(\?|$)", 502),
        (rf"/repos/{ORG}/{repos[2]}/commits(\?|$)", 500),
    ]
    for pattern, status in faults:
        env.sim.faults.add(FaultRule(pattern, status=status))
    assert not await collector.tick()
    assert await exported_activity(env) != activity_truth_now(env)  # the faults hid real activity
    assert {w.target for w in env.dispatcher.pending} == set(repos[:3])

    # A window for an org this exporter does not collect can never succeed: it must end in the DLQ.
    await env.dispatcher.record(
        MissedWindow(
            JobKind.ACTIVITY,
            "org",
            "initech",
            "tps",
            ActivityReason.COMMITS_FAILED,
            TimeWindow(START, START + 60),
        )
    )
    assert await env.dispatcher.sweep()
    # The faults outlive two job attempts (two client requests each), so every job goes through the
    # retry delays before it succeeds.
    env.sim.faults.clear()
    for pattern, status in faults:
        env.sim.faults.add(FaultRule(pattern, status=status, times=4))
    await drain(env, env.worker(CollectorHandlers(activity={ORG: collector})), jobs=4)

    assert await exported_activity(env) == activity_truth_now(env)
    assert env.processed("activity", "processed") == 3
    assert env.processed("activity", "retried") == 6
    assert env.processed("activity", "dead_lettered") == 0
    ((body, headers),) = env.queue.dead
    assert decode_job(body).missed.scope_id == "initech"
    assert headers[DLQ_REASON_HEADER] == "permanent"
    assert env.dispatcher.pending == ()


def copilot_collector(env: Env) -> CopilotCollector:
    cfg = CopilotConfig.model_validate({"enabled": True, "emit_day_label": True})
    options = CopilotOptions(
        scope="org",
        scope_id=ORG,
        reports=("organization",),
        interval_seconds=cfg.scrape_interval.total_seconds(),
        mapping=MapOptions(
            labels=LabelPolicy(cfg.user_label_mode, cfg.hash_key, cfg.emit_day_label),
            breakdowns=frozenset(),
            include_pull_requests=cfg.include_pull_request_activity,
            max_records=cfg.max_records_per_report,
            max_users=cfg.max_users_per_report,
        ),
        refresh_if_unchanged=cfg.refresh_if_report_unchanged,
        download_attempts=2,
        backoff_seconds=0.0,
    )
    return CopilotCollector(
        env.client,
        env.downloader,
        env.store,
        env.metrics,
        options,
        record_missed=env.dispatcher.record,
        clock=env.clock.now,
        sleep=_no_sleep,
    )


def keyed(samples: Iterable[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples keyed like the Copilot truth (name, sorted labels)."""
    return {(s.name, tuple(sorted(s.labels))): s.value for s in samples}


async def test_every_missed_copilot_day_is_recovered_from_the_one_day_reports(env: Env) -> None:
    """A failed 28-day link fetch → 28 one-day jobs → each day's snapshot equals that day's truth."""
    env.sim.faults.add(FaultRule(endpoint="copilot_report_link", kind="status", status=500, times=2))
    collector = copilot_collector(env)
    assert not await collector.tick()
    days = sorted({cast(DayWindow, w.window).first.isoformat() for w in env.dispatcher.pending})
    assert days == [(END_DAY - timedelta(days=n)).isoformat() for n in range(27, -1, -1)]
    assert await env.dispatcher.sweep()
    # The 1-day endpoint fails a few more times: those jobs retry instead of giving up.
    env.sim.faults.add(FaultRule(endpoint="copilot_report_link", kind="status", status=503, times=6))
    await drain(env, env.worker(CollectorHandlers(copilot={("org", ORG): collector})), jobs=28)

    assert env.processed("copilot", "processed") == 28
    assert env.processed("copilot", "retried") >= 1
    assert env.queue.dead == []
    first_day = env.sim.copilot.first_day  # the simulated org started using Copilot on this day
    recovered = 0
    for n in range(28):
        day = END_DAY - timedelta(days=n)
        key = SnapshotKey("copilot", ("org", ORG, "organization", "1d", day.isoformat()))
        snapshot = (await env.store.get_many([key])).get(key)
        if day < first_day:  # GitHub answers 204 (no report): success with nothing to write
            assert snapshot is None, day
            continue
        assert snapshot is not None, day
        # Every series of the day's snapshot, day label included, and nothing more.
        truth = copilot_truth(env.sim.copilot, "org", ORG, "aggregate", "1d", day, emit_day=True)
        assert keyed(snapshot.samples) == truth, day
        recovered += 1
    assert recovered == (END_DAY - first_day).days + 1 >= 5
