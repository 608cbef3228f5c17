"""Several endpoints over REST: primaries get everything, a secondary stands in for a dead primary."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bridge.emulator import EmulatorServer
from bridge.signalr import CountingObserver, Endpoint, EndpointRole, Outcome, RetryPolicy, SignalRClient
from bridge.signalr.actions import AddUserToGroup, SendToAll

pytestmark = pytest.mark.integration

POLICY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, max_elapsed=10)


@pytest.fixture
async def second_emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(host="127.0.0.1", port=0, test_hooks=True) as server:
        yield server


async def stopped_emulator() -> EmulatorServer:
    """An endpoint whose port was just closed: connections to it are refused."""
    server = EmulatorServer(host="127.0.0.1", port=0)
    await server.start()
    await server.stop()
    return server


def sent(emulator: EmulatorServer) -> int:
    return int(emulator.state()["requests"].get("202", 0))


async def test_every_online_primary_gets_each_message(
    emulator: EmulatorServer, second_emulator: EmulatorServer
) -> None:
    endpoints = [
        Endpoint.parse(emulator.connection_string, name="a"),
        Endpoint.parse(second_emulator.connection_string, name="b"),
    ]
    async with SignalRClient(endpoints, hub="chat", retry=POLICY, health_interval=None) as client:
        result = await client.deliver(SendToAll(target="t"))
    assert result.outcome is Outcome.DELIVERED
    assert {r.endpoint for r in result.endpoints} == {"a", "b"}
    assert (sent(emulator), sent(second_emulator)) == (1, 1)


async def test_one_primary_down_is_a_counted_partial_failure(emulator: EmulatorServer) -> None:
    down = await stopped_emulator()
    observer = CountingObserver()
    endpoints = [
        Endpoint.parse(emulator.connection_string, name="up"),
        Endpoint.parse(down.connection_string, name="down"),
    ]
    async with SignalRClient(
        endpoints, hub="chat", retry=POLICY, observer=observer, health_interval=None
    ) as client:
        result = await client.deliver(SendToAll(target="t"))
        assert result.outcome is Outcome.FAILED_TRANSIENT
        assert result.partial
        assert result.failed_endpoints == ("down",)
        assert result.reason == "connect-failed"
        assert observer.partial_failures == 1
        assert sent(emulator) == 1
        # Three refused connections in a row: the endpoint is reported offline.
        assert ("down", False) in [(name, online) for name, online, _ in observer.health_changes]
        assert client.endpoint_status()["down"]["online"] is False


async def test_secondary_stands_in_for_a_primary_that_is_down(
    emulator: EmulatorServer, second_emulator: EmulatorServer
) -> None:
    down = await stopped_emulator()
    endpoints = [
        Endpoint.parse(emulator.connection_string, name="p1"),
        Endpoint.parse(down.connection_string, name="p2"),
        Endpoint.parse(second_emulator.connection_string, role="secondary", name="s1"),
    ]
    async with SignalRClient(endpoints, hub="chat", retry=POLICY, health_interval=None) as client:
        # The primary fails during this delivery; the secondary takes its place at once.
        first = await client.deliver(SendToAll(target="t"))
        assert first.outcome is Outcome.DELIVERED
        assert not first.partial
        stand_in = next(r for r in first.endpoints if r.endpoint == "s1")
        assert stand_in.stand_in_for == "p2"
        # Known to be down now: the next delivery goes straight to p1 and s1.
        second = await client.deliver(AddUserToGroup(user_id="u", group="g"))
        assert [r.endpoint for r in second.endpoints] == ["p1", "s1"]
        assert second.ok
    assert sent(second_emulator) == 1


async def test_secondary_is_idle_while_primaries_are_healthy(
    emulator: EmulatorServer, second_emulator: EmulatorServer
) -> None:
    endpoints = [
        Endpoint(connection=Endpoint.parse(emulator.connection_string).connection, name="p"),
        Endpoint.parse(second_emulator.connection_string, role=EndpointRole.SECONDARY, name="s"),
    ]
    async with SignalRClient(endpoints, hub="chat", retry=POLICY, health_interval=None) as client:
        assert (await client.deliver(SendToAll(target="t"))).ok
        assert await client.check_health() == {"p": True, "s": True}
    assert second_emulator.state()["requests"].get("202", 0) == 0


async def test_health_probe_takes_a_sick_endpoint_out_and_brings_it_back(
    emulator: EmulatorServer, second_emulator: EmulatorServer
) -> None:
    endpoints = [
        Endpoint.parse(emulator.connection_string, name="p"),
        Endpoint.parse(second_emulator.connection_string, role="secondary", name="s"),
    ]
    async with SignalRClient(endpoints, hub="chat", retry=POLICY, health_interval=None) as client:
        assert await client.check_health() == {"p": True, "s": True}
        second_emulator.faults.inject(1, 503)
        assert await client.check_health() == {"p": True, "s": False}
        assert await client.check_health() == {"p": True, "s": True}
