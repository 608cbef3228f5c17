"""Every operation over real HTTP against the emulator, observed by a connected SignalR client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridge.emulator import EmulatorServer
from bridge.signalr import CountingObserver, Outcome, SignalRClient
from bridge.signalr.actions import (
    AddConnectionToGroup,
    AddUserToGroup,
    CloseConnection,
    RemoveConnectionFromAllGroups,
    RemoveConnectionFromGroup,
    RemoveUserFromAllGroups,
    RemoveUserFromGroup,
    SendToAll,
    SendToConnection,
    SendToGroup,
    SendToUser,
)

pytestmark = pytest.mark.integration


def groups_of(emulator: EmulatorServer, connection_id: str) -> list[str]:
    for c in emulator.state()["connections"]:
        if c["id"] == connection_id:
            return list(c["groups"])
    return []


async def test_sends_reach_the_right_clients(client: SignalRClient, listen: Any) -> None:
    alice = await listen(user_id="alice")
    bob = await listen(user_id="bob")

    assert (await client.deliver(SendToAll(target="all", arguments=(1,), excluded=(bob.connection_id,)))).ok
    assert (await alice.next())["target"] == "all"

    assert (await client.deliver(SendToUser(target="dm", arguments=("hi",), user_id="bob"))).ok
    got = await bob.next()
    assert (got["target"], got["arguments"]) == ("dm", ["hi"])

    assert (await client.deliver(SendToConnection(target="direct", connection_id=alice.connection_id))).ok
    assert (await alice.next())["target"] == "direct"

    # bob was excluded from the broadcast and got only his direct message
    assert bob.invocations.empty()
    assert alice.invocations.empty()


async def test_connection_group_membership(
    client: SignalRClient, listen: Any, emulator: EmulatorServer
) -> None:
    alice = await listen(user_id="alice")
    add = await client.deliver(AddConnectionToGroup(connection_id=alice.connection_id, group="room 1"))
    assert add.outcome is Outcome.DELIVERED
    assert groups_of(emulator, alice.connection_id) == ["room 1"]
    assert await client.group_exists("room 1")

    assert (await client.deliver(SendToGroup(target="room", arguments=({"n": 1},), group="room 1"))).ok
    assert (await alice.next())["arguments"] == [{"n": 1}]

    assert (
        await client.deliver(RemoveConnectionFromGroup(connection_id=alice.connection_id, group="room 1"))
    ).ok
    assert groups_of(emulator, alice.connection_id) == []
    await client.deliver(AddConnectionToGroup(connection_id=alice.connection_id, group="a"))
    await client.deliver(AddConnectionToGroup(connection_id=alice.connection_id, group="b"))
    assert (await client.deliver(RemoveConnectionFromAllGroups(connection_id=alice.connection_id))).ok
    assert groups_of(emulator, alice.connection_id) == []


async def test_user_group_membership_with_ttl(
    client: SignalRClient, listen: Any, emulator: EmulatorServer
) -> None:
    carol = await listen(user_id="carol")
    assert (await client.deliver(AddUserToGroup(user_id="carol", group="vip", ttl=3600))).ok
    assert await client.user_in_group("carol", "vip")
    assert "vip" in emulator.state()["userGroups"]["chat"]["carol"]
    assert (await client.deliver(SendToGroup(target="vip", group="vip"))).ok
    assert (await carol.next())["target"] == "vip"

    assert (await client.deliver(RemoveUserFromGroup(user_id="carol", group="vip"))).ok
    assert not await client.user_in_group("carol", "vip")
    await client.deliver(AddUserToGroup(user_id="carol", group="x"))
    assert (await client.deliver(RemoveUserFromAllGroups(user_id="carol"))).ok
    assert not await client.user_in_group("carol", "x")


async def test_existence_checks_and_close(client: SignalRClient, listen: Any) -> None:
    dave = await listen(user_id="dave")
    assert await client.connection_exists(dave.connection_id)
    assert await client.user_exists("dave")
    assert not await client.user_exists("nobody")
    assert not await client.connection_exists("missing")
    assert not await client.group_exists("empty")

    closed = await client.deliver(CloseConnection(connection_id=dave.connection_id, reason="maintenance"))
    assert closed.outcome is Outcome.DELIVERED
    for _ in range(100):
        if not await client.connection_exists(dave.connection_id):
            break
        await asyncio.sleep(0.02)
    assert not await client.connection_exists(dave.connection_id)


async def test_bulk_close_by_user_keeps_others(client: SignalRClient, listen: Any) -> None:
    erin = await listen(user_id="erin")
    frank = await listen(user_id="frank")
    result = await client.close_connections(user_id="erin", reason="bye")
    assert result.ok
    for _ in range(100):
        if not await client.connection_exists(erin.connection_id):
            break
        await asyncio.sleep(0.02)
    assert not await client.connection_exists(erin.connection_id)
    assert await client.connection_exists(frank.connection_id)


async def test_benign_404s_are_not_failures(client: SignalRClient, observer: CountingObserver) -> None:
    gone = await client.deliver(RemoveConnectionFromGroup(connection_id="gone", group="g"))
    closed = await client.deliver(CloseConnection(connection_id="gone"))
    assert (gone.outcome, closed.outcome) == (Outcome.BENIGN, Outcome.BENIGN)
    assert gone.status == 404
    assert gone.error_code == "Error.Connection.NotExisted"
    assert gone.attempts == 1
    failed = [key for key in observer.outcomes if key[0].startswith("failed")]
    assert failed == []


async def test_adding_a_vanished_connection_fails_permanently(client: SignalRClient) -> None:
    result = await client.deliver(AddConnectionToGroup(connection_id="gone", group="g"))
    assert result.outcome is Outcome.FAILED_PERMANENT
    assert result.error_code == "Error.Connection.NotExisted"
    assert "404" in result.detail


async def test_preflight_failure_sends_nothing(client: SignalRClient, emulator: EmulatorServer) -> None:
    result = await client.deliver(SendToAll(target="t", arguments=("x" * (1024 * 1024),)))
    assert (result.outcome, result.reason, result.attempts) == (Outcome.FAILED_PERMANENT, "preflight", 0)
    assert emulator.state()["requests"] == {}


async def test_application_prefix_reaches_the_prefixed_hub(emulator: EmulatorServer, listen: Any) -> None:
    listener = await listen(hub="shop_chat")
    async with SignalRClient(
        emulator.connection_string, hub="Chat", application="Shop", health_interval=None
    ) as c:
        assert (await c.deliver(SendToAll(target="prefixed"))).ok
    assert (await listener.next())["target"] == "prefixed"


@pytest.mark.parametrize("api_version", ["2024-12-01", "v1"])
async def test_other_api_versions(emulator: EmulatorServer, listen: Any, api_version: str) -> None:
    listener = await listen(user_id="gina")
    async with SignalRClient(
        emulator.connection_string, hub="chat", api_version=api_version, health_interval=None
    ) as c:
        assert (await c.deliver(SendToUser(target=api_version, user_id="gina"))).ok
        assert (await c.deliver(AddUserToGroup(user_id="gina", group="g"))).ok
        assert await c.user_in_group("gina", "g")
    assert (await listener.next())["target"] == api_version
