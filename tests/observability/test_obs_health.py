"""/healthz and /readyz over HTTP as the pipeline moves through its life."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bridge.observability import BridgeMetrics, HealthState, ObservabilityServer
from bridge.observability import metrics as m

pytestmark = pytest.mark.unit


async def _status(http: httpx.AsyncClient, path: str) -> tuple[int, list[str]]:
    response = await http.get(path)
    return response.status_code, response.json()["reasons"]


async def test_starting_bridge_is_live_but_not_ready(http: httpx.AsyncClient) -> None:
    assert await _status(http, "/healthz") == (200, [])
    code, reasons = await _status(http, "/readyz")
    assert code == 503
    assert "consumer not running" in reasons
    assert "no SignalR endpoint up" in reasons


async def test_ready_once_consuming_with_an_endpoint_up(health: HealthState, http: httpx.AsyncClient) -> None:
    health.set_consumer_running(True)
    assert (await http.get("/readyz")).status_code == 503  # no endpoint yet
    health.set_endpoint_up("primary", False)
    health.set_endpoint_up("secondary", True)
    assert await _status(http, "/readyz") == (200, [])
    health.set_endpoint_up("secondary", False)
    code, reasons = await _status(http, "/readyz")
    assert (code, reasons) == (503, ["no SignalR endpoint up"])


async def test_draining_turns_unready_at_once_but_stays_live(
    health: HealthState, http: httpx.AsyncClient
) -> None:
    consumer = asyncio.create_task(asyncio.sleep(3600))
    health.watch_consumer(consumer)
    health.set_consumer_running(True)
    health.set_endpoint_up("primary", True)
    assert (await http.get("/readyz")).status_code == 200

    health.start_draining()
    code, reasons = await _status(http, "/readyz")
    assert (code, reasons) == (503, ["draining"])
    consumer.cancel()  # the drain stops the consumer: not a death
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert await _status(http, "/healthz") == (200, [])


async def test_a_dead_consumer_task_fails_liveness(health: HealthState, http: httpx.AsyncClient) -> None:
    async def consume() -> None:
        raise ConnectionError("Endpoint=https://x;AccessKey=must-not-leak;")

    task = asyncio.create_task(consume())
    health.watch_consumer(task)
    health.set_consumer_running(True)
    health.set_endpoint_up("primary", True)
    await asyncio.wait([task])

    code, reasons = await _status(http, "/healthz")
    assert code == 503
    assert reasons == ["consumer task died: ConnectionError"]
    assert (await http.get("/readyz")).status_code == 503


async def test_a_consumer_failure_reported_by_the_pipeline_fails_liveness(
    health: HealthState, http: httpx.AsyncClient
) -> None:
    health.consumer_failed("fatal Kafka error")
    assert await _status(http, "/healthz") == (503, ["consumer failed: fatal Kafka error"])


async def test_endpoint_state_is_mirrored_into_the_metric(
    metrics: BridgeMetrics, health: HealthState
) -> None:
    health.set_endpoint_up("primary", True)
    health.set_endpoint_up("secondary", False)
    reg = metrics.registry
    assert reg.get_sample_value(m.ENDPOINT_UP, {"endpoint": "primary"}) == 1
    assert reg.get_sample_value(m.ENDPOINT_UP, {"endpoint": "secondary"}) == 0


async def test_start_and_stop_are_idempotent_and_stop_frees_the_port(
    metrics: BridgeMetrics, health: HealthState
) -> None:
    server = ObservabilityServer(metrics, health, host="127.0.0.1", port=0)
    with pytest.raises(RuntimeError):
        _ = server.port
    await server.start()
    await server.start()
    url = server.url
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{url}/healthz")).status_code == 200
        await server.stop()
        await server.stop()
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/healthz")


async def test_a_taken_port_fails_start_loudly(metrics: BridgeMetrics, health: HealthState) -> None:
    async with ObservabilityServer(metrics, health, host="127.0.0.1", port=0) as first:
        second = ObservabilityServer(metrics, health, host="127.0.0.1", port=first.port)
        with pytest.raises(OSError, match=r"(?i)address|in use"):
            await second.start()
        await second.stop()  # nothing started: still fine
