"""Client lifecycle, transports and the wire form of requests, against a loopback sink."""

from __future__ import annotations

import asyncio

import pytest
from sr_helpers import Sink

from bridge.signalr import ClientClosedError, CountingObserver, DeliveryError, Outcome, SignalRClient
from bridge.signalr.actions import SendToGroup, SendToUser

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_both_transports_send_the_same_wire_request(sink: Sink, transport: str) -> None:
    async with SignalRClient(
        sink.connection_string,
        hub="Chat",
        application="App",
        transport=transport,  # type: ignore[arg-type]
        health_interval=None,
    ) as client:
        result = await client.deliver(
            SendToGroup(target="t", arguments=(1, "é"), group="a/b?c #1", excluded=("x y", "z"))
        )
    assert result.outcome is Outcome.DELIVERED
    request = sink.requests[0]
    assert request.method == "POST"
    assert request.raw_path == (
        "/api/hubs/chat/groups/a%2Fb%3Fc%20%231/:send?application=app&api-version=2022-06-01&excluded=x%20y&excluded=z"
    )
    assert sink.bodies[0] == '{"target":"t","arguments":[1,"é"]}'.encode()
    assert request.headers["User-Agent"].startswith("signalr-bridge/")


async def test_start_and_close_are_idempotent_and_closed_clients_refuse_work(sink: Sink) -> None:
    client = SignalRClient(sink.connection_string, hub="chat", health_interval=None)
    await client.start()
    await client.start()
    assert (await client.deliver(SendToUser(target="t", user_id="u"))).ok
    await client.aclose()
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await client.deliver(SendToUser(target="t", user_id="u"))


async def test_deliver_starts_the_client_on_first_use(sink: Sink) -> None:
    client = SignalRClient(sink.connection_string, hub="chat", health_interval=None)
    try:
        assert (await client.deliver(SendToUser(target="t", user_id="u"))).ok
    finally:
        await client.aclose()


async def test_background_health_probes_use_head_api_health(sink: Sink) -> None:
    sink.default_status = 200
    observer = CountingObserver()
    async with SignalRClient(sink.connection_string, hub="chat", health_interval=0.05, observer=observer):
        for _ in range(200):
            if len(sink.requests) >= 2:
                break
            await asyncio.sleep(0.01)
    probes = [(r.method, r.path) for r in sink.requests]
    assert probes[:2] == [("HEAD", "/api/health"), ("HEAD", "/api/health")]


async def test_results_say_why_in_words_a_user_can_act_on(sink: Sink) -> None:
    sink.script = [(403, {"x-ms-error-code": "Error.Auth.Forbidden"})]
    async with SignalRClient(sink.connection_string, hub="chat", health_interval=None) as client:
        result = await client.deliver(SendToUser(target="t", user_id="u"))
    assert result.outcome is Outcome.FAILED_PERMANENT
    assert result.reason == "forbidden"
    assert "HTTP 403" in result.detail
    assert "Error.Auth.Forbidden" in result.detail
    with pytest.raises(DeliveryError, match=r"Error\.Auth\.Forbidden"):
        result.raise_for_outcome()
