"""Lanes keep order per key and run different keys in parallel."""

from __future__ import annotations

import asyncio
import random

import pytest

from bridge.pipeline.lanes import Lanes

pytestmark = pytest.mark.unit


async def test_same_key_runs_in_submission_order_while_keys_interleave() -> None:
    lanes = Lanes()
    log: list[tuple[str, int]] = []
    running: set[str] = set()
    overlap = 0

    def work(key: str, n: int):
        async def run() -> None:
            nonlocal overlap
            assert key not in running, "two items of one lane ran at once"
            running.add(key)
            overlap = max(overlap, len(running))
            await asyncio.sleep(random.uniform(0, 0.005))
            log.append((key, n))
            running.discard(key)

        return run

    for n in range(50):
        for key in ("a", "b", "c"):
            lanes.submit(key, work(key, n))
    assert await lanes.drain(within=10)
    for key in ("a", "b", "c"):
        assert [n for k, n in log if k == key] == list(range(50))
    assert overlap == 3, "different keys should run in parallel"
    assert len(lanes) == 0


async def test_unordered_work_runs_concurrently() -> None:
    lanes = Lanes()
    started = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        started.set()
        await release.wait()

    async def second() -> None:
        await started.wait()
        release.set()

    lanes.submit(None, first)
    lanes.submit(None, second)
    assert await lanes.drain(within=5)


async def test_drain_reports_a_deadline_miss() -> None:
    lanes = Lanes()
    lanes.submit("k", lambda: asyncio.sleep(5))
    assert not await lanes.drain(within=0.05)
    await lanes.cancel()
    assert len(lanes) == 0
