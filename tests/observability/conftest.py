"""Fixtures for the observability tests: fresh metrics, health state and a live server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bridge.observability import BridgeMetrics, HealthState, ObservabilityServer


@pytest.fixture
def metrics() -> BridgeMetrics:
    return BridgeMetrics()


@pytest.fixture
def health(metrics: BridgeMetrics) -> HealthState:
    return HealthState(metrics)


@pytest.fixture
async def server(metrics: BridgeMetrics, health: HealthState) -> AsyncIterator[ObservabilityServer]:
    srv = ObservabilityServer(metrics, health, host="127.0.0.1", port=0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def http(server: ObservabilityServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
        yield client
