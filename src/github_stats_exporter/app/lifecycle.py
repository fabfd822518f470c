"""`serve` and `once`: the one task group, signals and graceful shutdown.

SIGTERM/SIGINT → readiness false → services cancelled (rate-limit pauses are cancellable) → the exit
stack closes sessions, the store and the listener → return (exit 0)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from github_stats_exporter.app.assembly import build_runtime
from github_stats_exporter.app.listener import open_listener
from github_stats_exporter.app.runtime import Runtime, build_elector
from github_stats_exporter.config import Settings, config_warnings
from github_stats_exporter.exposition import Format
from github_stats_exporter.health import Health
from github_stats_exporter.scrape import copilot_sums
from github_stats_exporter.scrape.scheduler import Job, run_periodic, run_tick
from github_stats_exporter.store.base import StoreError

log = structlog.get_logger(__name__)


LIVENESS_MIN_SILENCE_SECONDS = 60.0
"""No loop is declared wedged sooner than this, whatever its interval (a slow store call is not a hang)."""

ONCE_SETTLE_SECONDS = 120.0
"""How long `once` waits for contributor statistics that GitHub is still computing."""


class Shutdown(Exception):
    """Raised inside the task group to stop every service (asyncio.TaskGroup has no cancel())."""


def log_config_findings(settings: Settings) -> None:
    """Once at start (serve, once, demo): the loader's coercions and every value accepted without effect."""
    for notice in settings.notices:
        log.info("config_notice", notice=notice)
    for warning in config_warnings(settings):
        log.warning("config_warning", key=warning.key, message=warning.message)


async def refresh_cache(runtime: Runtime, *, publish: bool | None = None) -> bool:
    """Publish the leader's collector state, then refresh the page and the published health view.

    In sharded mode every replica first writes its own part, which the leader merges (`ClusterState`).

    ``publish`` defaults to "this replica leads". A store failure keeps the last page and marks health.
    """
    cluster_state = runtime.core.cluster_state
    try:
        if cluster_state.sharded:
            await cluster_state.publish_part()
        if runtime.is_leader if publish is None else publish:
            await cluster_state.publish()
        await cluster_state.load()
        await runtime.cache.refresh()
    except StoreError as exc:
        runtime.health.set("store", False, f"{type(exc).__name__}: {exc}")
        log.warning("exposition_refresh_failed", error=str(exc))
        refreshed = False
    else:
        runtime.health.set("store", True)
        refreshed = True
    # Evaluated at every refresh, not only by probes, so gh_exporter_ready follows without a kubelet.
    _ = runtime.health.ready
    return refreshed


async def _wait_for_signal(stop: asyncio.Event, health: Health) -> None:
    await stop.wait()
    log.info("shutdown_requested")
    health.start_draining()
    raise Shutdown


def install_signal_handlers(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM/SIGINT set ``stop``; returns a function that removes the handlers again."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    on_listening: Callable[[int], Awaitable[None] | None] | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Run the exporter until ``stop`` is set (or SIGTERM/SIGINT arrives)."""
    stop = stop or asyncio.Event()
    log_config_findings(settings)
    remove_handlers = install_signal_handlers(stop)
    try:
        async with contextlib.AsyncExitStack() as stack:
            runtime = await build_runtime(settings, stack, clock=clock)
            elector = build_elector(settings, runtime.metrics)
            stack.push_async_callback(elector.close)
            listener = await open_listener(settings.server, runtime.cache, runtime.health, runtime.metrics)
            stack.push_async_callback(listener.server.stop)
            bound = listener.port
            log.info(
                "listening",
                host=listener.host,
                port=bound,
                tls=listener.tls,
                role=runtime.role,
                orgs=list(runtime.github.clients),
                # Whether the C loop of the Copilot breakdown sums was built at install (README).
                copilot_sums=copilot_sums.DEFAULT.name,
            )
            if on_listening is not None:
                maybe = on_listening(bound)
                if maybe is not None:
                    await maybe
            await refresh_cache(runtime)
            refresher = Job(
                "exposition_refresh", runtime.core.refresh_interval, lambda: refresh_cache(runtime)
            )

            def on_change(leader: bool) -> None:
                if runtime.is_leader != leader:
                    log.info(
                        "role_changed", role="leader" if leader else "follower", identity=elector.identity
                    )
                runtime.leadership.set(leader)

            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(_wait_for_signal(stop, runtime.health), name="signals")
                    tg.create_task(elector.run(on_change), name="leader_election")
                    if runtime.coordinator is not None and runtime.core.units is not None:
                        tg.create_task(runtime.coordinator.run(runtime.core.units.set), name="shard_units")
                    tg.create_task(_watched(runtime, refresher), name=refresher.name)
                    for job in runtime.jobs:
                        tg.create_task(_watched(runtime, job), name=job.name)
                    for name, service in runtime.services.items():
                        tg.create_task(service(), name=name)
                    if listener.watcher is not None:
                        tg.create_task(listener.watcher.run(), name="web_config_reload")
            except* Shutdown:
                log.info("stopped_cleanly")
            finally:
                # Hand the lease over now instead of making the next leader wait for it to expire.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(settings.leader_election.renew_deadline.total_seconds() + 1):
                        await elector.release()
                        if runtime.coordinator is not None:
                            await runtime.coordinator.release()
    finally:
        remove_handlers()


async def _watched(runtime: Runtime, job: Job) -> None:
    """Run a periodic job under the liveness watchdog; leader jobs wake when leadership is gained."""
    stall = runtime.settings.health.liveness_stall_intervals
    allowed = stall * job.interval * (1 + job.jitter) + (job.timeout or 0.0)
    runtime.health.watch(job.name, max(LIVENESS_MIN_SILENCE_SECONDS, allowed))
    units = runtime.core.units
    if job.unit and units is not None:
        # Sharded collection: the job runs while this replica holds its unit, whoever leads.
        await run_periodic(
            units.guard(job), sleep=units.sleeper(job.unit), beat=lambda: runtime.health.beat(job.name)
        )
    elif job.leader_only:
        await run_periodic(
            runtime.leadership.guard(job),
            sleep=runtime.leadership.sleep,
            beat=lambda: runtime.health.beat(job.name),
        )
    else:
        await run_periodic(job, beat=lambda: runtime.health.beat(job.name))


@dataclass(frozen=True, slots=True)
class OnceResult:
    """What `once` produced: the exposition bytes and whether every source succeeded."""

    body: bytes
    ok: bool
    failures: tuple[str, ...]


async def once(
    settings: Settings, *, fmt: Format = Format.TEXT, clock: Callable[[], float] = time.time
) -> OnceResult:
    """One collection cycle of everything enabled, then render the page once."""
    log_config_findings(settings)
    if settings.leader_election.mode == "sharded":
        # One process collects everything once: there is nobody to share the units with.
        election = settings.leader_election.model_copy(update={"mode": "single"})
        settings = settings.model_copy(update={"leader_election": election})
    async with contextlib.AsyncExitStack() as stack:
        runtime = await build_runtime(settings, stack, clock=clock)
        failures = [job.name for job in runtime.jobs if not await run_tick(job)]
        for org, loc in runtime.collectors.loc.items():
            # A single run should yield complete LOC: wait (bounded) for GitHub's 202 "computing" answers.
            if not await loc.settle(ONCE_SETTLE_SECONDS):
                failures.append(f"loc_settle:{org}")
        # `once` collected everything itself, so it publishes its collector state whatever its role.
        if not await refresh_cache(runtime, publish=True):
            failures.append("exposition_refresh")
        return OnceResult(runtime.cache.body(fmt), not failures, tuple(failures))
