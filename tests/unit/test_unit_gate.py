"""The unit gate of sharded collection: jobs run while their unit is held and stop at once when it is lost."""

from __future__ import annotations

import asyncio
import contextlib

from github_stats_exporter.app.units import UnitGate
from github_stats_exporter.health import Health
from github_stats_exporter.metrics import SHARD_UNIT_EPOCH, SHARD_UNITS_HELD
from github_stats_exporter.scrape.scheduler import Job, run_periodic
from github_stats_exporter.selfmetrics import SelfMetrics

UNIT = "repos:org/acme#0/2"
OTHER = "repos:org/acme#1/2"


def gate() -> tuple[UnitGate, Health, SelfMetrics]:
    metrics = SelfMetrics()
    health = Health(lambda: True, metrics)
    return UnitGate(health, metrics, "replica-a"), health, metrics


async def test_a_unit_job_runs_only_while_its_unit_is_held() -> None:
    """The gate opens with the unit, and the epoch of the term is what fenced writes carry."""
    units, _, metrics = gate()

    async def tick() -> bool:
        return True

    job = units.guard(Job("org_cycle:acme#0/2", 60, tick, unit=UNIT))
    assert not job.gate()
    assert units.epoch(UNIT) == 0
    units.set({UNIT: 7})
    assert job.gate()
    assert units.epoch(UNIT) == 7
    assert metrics.value(SHARD_UNITS_HELD, None) == 1


async def test_losing_a_unit_ends_its_tick_in_flight() -> None:
    """A tick of a unit that moved to another replica ends at once, as a timeout."""
    units, _, _ = gate()
    started = asyncio.Event()

    async def tick() -> bool:
        started.set()
        await asyncio.sleep(30)
        return True

    units.set({UNIT: 1})
    job = units.guard(Job("org_cycle:acme#0/2", 60, tick, unit=UNIT))
    running = asyncio.ensure_future(job.tick())
    await started.wait()
    units.set({})
    try:
        await asyncio.wait_for(running, 1)
    except TimeoutError:
        pass
    else:
        raise AssertionError("the tick of a lost unit kept running")


async def test_a_new_term_then_a_loss_while_the_tick_is_still_ending_does_not_raise() -> None:
    """Two verdicts that end the same tick before its cancellation reached it (a stalled loop) end it once."""
    units, _, _ = gate()
    for loop_turns in range(4):  # the second verdict lands at each stage of the first one's ending
        started = asyncio.Event()

        async def tick(started: asyncio.Event = started) -> bool:
            started.set()
            await asyncio.sleep(3600)
            return True

        units.set({UNIT: 1})
        job = units.guard(Job("org_cycle:acme#0/2", 60, tick, unit=UNIT))
        running = asyncio.ensure_future(job.tick())
        await started.wait()
        units.set({UNIT: 2})  # a new term: the old term's tick must end
        for _ in range(loop_turns):
            await asyncio.sleep(0)
        units.set({})  # then the unit is lost while that tick is still ending
        try:
            await asyncio.wait_for(running, 1)
        except TimeoutError:
            pass
        else:
            raise AssertionError("the tick of an ended term kept running")
        assert units.epoch(UNIT) == 0


async def test_gaining_a_unit_wakes_its_sleeping_jobs_and_no_other() -> None:
    """A gained unit's job wakes at once; the job of a unit already held keeps its schedule."""
    units, health, _ = gate()
    units.set({OTHER: 1})
    held = asyncio.create_task(units.sleeper(OTHER)(30))
    waiting = asyncio.create_task(units.sleeper(UNIT)(30))
    await asyncio.sleep(0)

    units.set({OTHER: 1, UNIT: 3})

    await asyncio.wait_for(waiting, 1)
    await asyncio.sleep(0)
    assert not held.done()
    assert f"{UNIT}@3" in health.snapshot()["details"]["shards"]["detail"]
    held.cancel()


async def test_a_new_term_of_a_held_unit_wakes_its_job() -> None:
    """Lost and taken again between two rounds (a new epoch): the ended tick's job starts again at once."""
    units, _, _ = gate()
    units.set({UNIT: 3})
    sleeper = asyncio.create_task(units.sleeper(UNIT)(30))
    await asyncio.sleep(0)

    units.set({UNIT: 4})

    await asyncio.wait_for(sleeper, 1)


async def test_the_cluster_view_names_every_unit_s_holder_and_forgets_moved_ones() -> None:
    """Each leased unit gets one epoch series under its holder; a moved unit's old series goes away."""
    units, health, metrics = gate()
    units.view({UNIT: ("replica-a", 4), "seats:org/acme": ("replica-b", 2)})
    assert metrics.value(SHARD_UNIT_EPOCH, {"unit": UNIT, "replica": "replica-a"}) == 4
    units.view({UNIT: ("replica-b", 5), "seats:org/acme": ("", 2)})
    series = {
        (s.label("unit"), s.label("replica")): s.value
        for s in metrics.cluster_state_samples()
        if s.name == SHARD_UNIT_EPOCH.name
    }
    assert series == {(UNIT, "replica-b"): 5}
    assert "units per replica: (none)=1, replica-b=1" in health.snapshot()["details"]["shards"]["detail"]


async def test_losing_a_unit_or_its_term_calls_on_lost_and_gaining_one_does_not() -> None:
    """The replica's collector state is forgotten when a unit goes, never when one is gained; on_lost gets
    the units still held."""
    calls: list[dict[str, int]] = []
    metrics = SelfMetrics()
    units = UnitGate(
        Health(lambda: True, metrics), metrics, "replica-a", on_lost=lambda held: calls.append(dict(held))
    )
    units.set({UNIT: 1})
    units.set({UNIT: 1, "repos:org/acme#1/2": 2})
    assert calls == []
    units.set({UNIT: 3, "repos:org/acme#1/2": 2})
    assert calls == [{UNIT: 3, "repos:org/acme#1/2": 2}]
    units.set({UNIT: 3})
    assert calls == [{UNIT: 3, "repos:org/acme#1/2": 2}, {UNIT: 3}]


async def test_a_new_term_during_the_ended_term_s_tick_starts_a_tick_at_once() -> None:
    """Lost and taken again while the old term's tick is still running: that tick ends, and the job
    ticks again for the new term without sleeping its interval."""
    units, _, _ = gate()
    started: list[int] = []
    first, second = asyncio.Event(), asyncio.Event()

    async def tick() -> bool:
        started.append(units.epoch(UNIT))
        (second if first.is_set() else first).set()
        await asyncio.sleep(3600)
        return True

    units.set({UNIT: 3})
    runner = asyncio.create_task(
        run_periodic(units.guard(Job("org_cycle:acme#0/2", 3600, tick, unit=UNIT)), sleep=units.sleeper(UNIT))
    )
    await asyncio.wait_for(first.wait(), 1)

    units.set({UNIT: 4})

    await asyncio.wait_for(second.wait(), 1)
    assert started == [3, 4]
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
