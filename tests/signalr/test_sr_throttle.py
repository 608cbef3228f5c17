"""The adaptive limit: a 429 slows the whole endpoint, successes restore it."""

from __future__ import annotations

import asyncio

import pytest

from bridge.signalr.endpoints import EndpointHealth, choose_targets
from bridge.signalr.throttle import AdaptiveLimiter

pytestmark = pytest.mark.unit


async def test_concurrency_never_exceeds_the_limit() -> None:
    limiter = AdaptiveLimiter(max_concurrency=3)
    peak = 0

    async def work() -> None:
        nonlocal peak
        await limiter.acquire()
        try:
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.001)
        finally:
            limiter.release()

    await asyncio.gather(*(work() for _ in range(30)))
    assert peak == 3
    assert limiter.in_flight == 0


async def test_throttling_halves_the_limit_and_pauses_everyone() -> None:
    now = [100.0]
    limiter = AdaptiveLimiter(max_concurrency=8, clock=lambda: now[0])
    pause = limiter.on_throttled(2.5)
    assert pause == 2.5
    assert limiter.limit == 4
    assert limiter.paused_for() == 2.5
    with pytest.raises(TimeoutError):
        await limiter.acquire(deadline=101.0)  # the pause outlasts this caller's deadline
    limiter.on_throttled(None)
    assert limiter.limit == 2


def test_successes_raise_the_limit_back_additively() -> None:
    limiter = AdaptiveLimiter(max_concurrency=8)
    limiter.on_throttled(0)
    limiter.on_throttled(0)
    assert limiter.limit == 2
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 8


async def test_a_waiter_that_gives_up_passes_its_slot_on() -> None:
    limiter = AdaptiveLimiter(max_concurrency=1)
    await limiter.acquire()
    loop = asyncio.get_running_loop()
    impatient = asyncio.create_task(limiter.acquire(deadline=loop.time() + 0.01))
    patient = asyncio.create_task(limiter.acquire())
    with pytest.raises(TimeoutError):
        await impatient
    limiter.release()
    await asyncio.wait_for(patient, 5)
    assert limiter.in_flight == 1


def test_health_needs_a_run_of_failures_to_go_offline() -> None:
    health = EndpointHealth(failures_to_offline=3)
    assert not health.record(False)
    assert not health.record(False)
    assert health.record(False)
    assert not health.online
    assert health.record(True)
    assert health.online


def test_a_secondary_stands_in_for_each_primary_that_is_down() -> None:
    primaries = [("p1", True), ("p2", False), ("p3", False)]
    assert choose_targets(primaries, [("s1", True), ("s2", False), ("s3", True)]) == ["p1", "s1", "s3"]
    assert choose_targets([("p1", True)], [("s1", True)]) == ["p1"]
    # Nothing online: try the primaries anyway, health may be stale.
    assert choose_targets([("p1", False)], [("s1", False)]) == ["p1"]
