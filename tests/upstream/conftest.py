"""Fixtures for the upstream receiver: the receiver in-process on a free port, against real Kafka."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from up_support import Running, Upstream

from bridge.config import load_config_text
from bridge.observability.health import HealthState
from bridge.observability.metrics import BridgeMetrics
from bridge.upstream.receiver import UpstreamReceiver


@pytest.fixture
async def start_receiver() -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    started: list[Running] = []
    http = httpx.AsyncClient(timeout=30)

    async def start(config_text: str, *, wait_for_kafka: bool = True) -> Running:
        config = load_config_text(config_text, environ={}).config
        metrics = BridgeMetrics(process_metrics=False)
        health = HealthState(metrics, outbound=False)
        receiver = UpstreamReceiver(config, metrics=metrics, health=health)
        await receiver.start()
        running = Running(receiver, metrics, health, Upstream(receiver.url, http))
        started.append(running)
        deadline = time.monotonic() + 30
        while wait_for_kafka and not health.readiness().ok:
            assert time.monotonic() < deadline, health.readiness()
            await asyncio.sleep(0.05)
        return running

    yield start
    for running in started:
        await running.receiver.stop(drain_timeout=5)
    await http.aclose()
