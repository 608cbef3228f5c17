"""The /server endpoint: a sender's server connection, spoken with hand-built frames."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from emu_support import (
    ACCESS_KEY,
    RS,
    Clients,
    Rest,
    ServerLink,
    client_token,
    eventually,
    frame,
    marker,
    server_token,
    sign,
)

from bridge.emulator import EmulatorServer
from bridge.emulator.server_connections import ServerTimings

pytestmark = pytest.mark.integration

OK, NOT_FOUND = 1, 2


def payloads(target: str, *args: Any) -> dict[str, bytes]:
    text = json.dumps({"type": 1, "target": target, "arguments": list(args)}) + RS
    return {"json": text.encode()}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def link(emulator: EmulatorServer, session: aiohttp.ClientSession) -> ServerLink:
    link, response = await ServerLink.open(session, emulator)
    assert response[:3] == [2, "", {}]
    assert response[3]
    return link


async def synced(link: ServerLink) -> None:
    """The emulator reads a connection in order: once this check is answered, all before it was read."""
    assert (await link.acked(frame(24, "sync", 9999, {})))[:2] == [20, 9999]


async def targets(client: Any, rest: Rest, hub: str = "chat") -> list[str]:
    """Every invocation ``client`` got before a marker sent now."""
    await marker(rest, client, hub)
    seen = []
    while (message := await client.next())["target"] != "__marker__":
        seen.append(message["target"])
    return seen


async def test_handshake_answers_with_a_connection_id_and_the_connection_is_listed(
    emulator: EmulatorServer, link: ServerLink
) -> None:
    [server] = emulator.state()["serverConnections"]
    assert server["hub"] == "chat"
    assert server["cid"].startswith("test-")


@pytest.mark.parametrize("token", [None, "client", "port", "other-hub", "wrong-key"])
async def test_only_a_token_for_this_hub_s_server_endpoint_is_accepted(
    emulator: EmulatorServer, session: aiohttp.ClientSession, token: str | None
) -> None:
    tokens = {
        "client": client_token("chat"),
        "port": sign(f"http://127.0.0.1:{emulator.port}/server/?hub=chat"),
        "other-hub": server_token("other"),
        "wrong-key": server_token("chat", key="not-the-key-0123456789abcdefghijklmnopq"),
    }
    headers = {} if token is None else {"Authorization": f"Bearer {tokens[token]}"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(f"{emulator.base_url}/server/?hub=chat&cid=1", headers=headers)
    assert refused.value.status == 401


async def test_version_2_and_client_carrying_connection_types_are_refused(
    emulator: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    _, response = await ServerLink.open(session, emulator, handshake=frame(1, 2, 2, "", 0, {}))
    assert response[:2] == [2, "Version mismatch."]
    link, response = await ServerLink.open(session, emulator, handshake=frame(1, 1, 0, "", 0, {}))
    assert "only Weak" in response[1]
    assert (await link.next())[0] == "closed"
    assert emulator.state()["serverConnections"] == []


async def test_data_messages_fan_out_to_the_hub_s_clients(
    link: ServerLink, clients: Clients, rest: Rest
) -> None:
    ann = await clients.connect(user="ann")
    bob = await clients.connect(user="bob")
    other_hub = await clients.connect(hub="other", user="ann")
    for client in (ann, bob):
        await rest.call("PUT", f"/api/hubs/chat/groups/g/connections/{client.connection_id}")
    await link.send(
        frame(10, [bob.connection_id], payloads("all", 1), {}),
        frame(8, "bob", payloads("user"), {}),
        frame(9, ["ann", "nobody"], payloads("users"), {}),
        frame(7, [ann.connection_id, "gone"], payloads("conn"), {}),
        frame(13, "g", [ann.connection_id], payloads("group"), {}, [], None),
        frame(13, "g", [], payloads("group-but-bob"), {}, ["bob"], None),
        frame(14, ["g", "h"], payloads("groups"), {}),
    )
    assert await targets(ann, rest) == ["all", "users", "conn", "group-but-bob", "groups"]
    assert await targets(bob, rest) == ["user", "group", "groups"]
    assert await targets(other_hub, rest, "other") == []


async def test_group_messages_change_membership(
    emulator: EmulatorServer, link: ServerLink, clients: Clients, rest: Rest
) -> None:
    ann = await clients.connect(user="ann")
    await link.send(frame(11, ann.connection_id, "joined", {}), frame(16, "ann", "vip", {2: 100}))
    await synced(link)
    state = emulator.state()
    assert state["groups"]["chat"] == {"joined": [ann.connection_id], "vip": [ann.connection_id]}
    assert state["userGroups"]["chat"]["ann"]["vip"] == pytest.approx(time.time() + 100, abs=5)
    await link.send(frame(12, ann.connection_id, "joined", {}), frame(17, "ann", "vip", {}))
    await synced(link)
    assert emulator.state()["groups"] == {}


async def test_acked_messages_are_answered_with_their_status(
    emulator: EmulatorServer, link: ServerLink, clients: Clients
) -> None:
    ann = await clients.connect(user="ann")
    conn = ann.connection_id
    assert await link.acked(frame(18, conn, "g", 1, {})) == [20, 1, OK, "", {}]
    assert await link.acked(frame(18, "gone", "g", 2, {})) == [20, 2, NOT_FOUND, "", {}]
    assert (await link.acked(frame(23, "g", 3, {})))[2] == OK
    assert (await link.acked(frame(24, conn, 4, {})))[2] == OK
    assert (await link.acked(frame(24, "barrier", 5, {})))[2] == NOT_FOUND
    assert (await link.acked(frame(25, "ann", 6, {})))[2] == OK
    assert (await link.acked(frame(26, "ann", "vip", 7, {2: 60})))[2] == OK
    assert (await link.acked(frame(21, "ann", "vip", 8, {})))[2] == OK
    assert emulator.state()["groups"]["chat"] == {"g": [conn], "vip": [conn]}
    assert (await link.acked(frame(19, conn, None, 9, {})))[2] == OK  # nil group: leave all
    assert (await link.acked(frame(27, "ann", None, 10, {})))[2] == OK
    assert emulator.state()["groups"] == {}
    assert (await link.acked(frame(19, "gone", "g", 11, {})))[2] == NOT_FOUND
    assert (await link.acked(frame(32, "ann", "bye", 12, [], {})))[2] == OK
    assert (await ann.next())["type"] == 7


async def test_close_connection_sends_the_reason_to_the_client(link: ServerLink, clients: Clients) -> None:
    ann = await clients.connect(user="ann")
    await link.send(frame(5, ann.connection_id, "kicked", {}, {}))
    assert await ann.next() == {"type": 7, "error": "kicked", "allowReconnect": True}


async def test_frames_may_share_or_straddle_websocket_messages(
    link: ServerLink, clients: Clients, rest: Rest
) -> None:
    ann = await clients.connect(user="ann")
    stream = b"".join(frame(8, "ann", payloads(f"m{i}"), {}) for i in range(5)) + frame(24, "b", 99, {})
    for start in range(0, len(stream), 7):
        await link.send(stream[start : start + 7])
    assert (await link.next())[:3] == [20, 99, NOT_FOUND]
    assert await targets(ann, rest) == [f"m{i}" for i in range(5)]


async def test_a_client_gets_its_own_protocol_s_payload_or_nothing(
    link: ServerLink, clients: Clients, rest: Rest
) -> None:
    ann = await clients.connect(user="ann")
    mp_only = {"MessagePack": b"\x02\x91\x06"}  # names compare case-insensitively
    await link.send(frame(8, "ann", mp_only, {}), frame(8, "ann", {"JSON": payloads("json")["json"]}, {}))
    assert await targets(ann, rest) == ["json"]


async def test_echo_pings_are_written_back_and_unknown_types_ignored(link: ServerLink) -> None:
    await link.send(frame(99, "from the future", {}), frame(3, "echo", "12345"), frame(3, "status", "1"))
    assert await link.next() == [3, "echo", "12345"]


async def test_the_emulator_pings_an_idle_server_connection(session: aiohttp.ClientSession) -> None:
    timings = ServerTimings(keepalive=0.2, timeout=30, handshake_timeout=5)
    async with EmulatorServer(access_key=ACCESS_KEY, server_timings=timings) as server:
        link, _ = await ServerLink.open(session, server)
        assert await link.next(skip_pings=False, wait=5) == [3]


async def test_a_malformed_message_closes_the_connection(link: ServerLink) -> None:
    await link.send(b"\x02\xa1x")
    assert (await link.next())[0] == "closed"


# --- fault hooks ----------------------------------------------------------------------------------


async def test_refused_handshakes_name_the_reason_until_the_count_runs_out(
    emulator: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    emulator.server_faults.refuse_handshakes("Service is in maintenance.", count=1)
    _, refused = await ServerLink.open(session, emulator)
    assert refused[1] == "Service is in maintenance."
    _, accepted = await ServerLink.open(session, emulator)
    assert accepted[1] == ""


async def test_acks_can_be_delayed_and_withheld(emulator: EmulatorServer, link: ServerLink) -> None:
    emulator.server_faults.delay_acks(300)
    started = time.monotonic()
    assert (await link.acked(frame(24, "b", 1, {})))[1] == 1
    assert time.monotonic() - started >= 0.3
    emulator.server_faults.delay_acks(0)
    emulator.server_faults.withhold_acks(1)
    await link.send(frame(24, "b", 2, {}), frame(24, "b", 3, {}))
    assert (await link.next())[1] == 3  # the ack of 2 never comes


async def test_drop_after_messages_cuts_the_connection_that_read_them(
    emulator: EmulatorServer, link: ServerLink, clients: Clients, rest: Rest
) -> None:
    ann = await clients.connect(user="ann")
    emulator.server_faults.drop_after(2)
    await link.send(*(frame(8, "ann", payloads(f"m{i}"), {}) for i in range(3)), frame(24, "b", 1, {}))
    assert (await link.next())[0] == "closed"
    assert await targets(ann, rest) == ["m0", "m1"]  # read, then cut: no ack for what followed


async def test_drop_service_error_and_offline_reach_live_connections(
    emulator: EmulatorServer, session: aiohttp.ClientSession, link: ServerLink
) -> None:
    assert emulator.servers.offline() == 1
    message = await link.next()
    assert message[0] == 39
    assert message[2:4] == [2, 4]  # Server connection, Offline
    assert emulator.servers.service_error("Message count reaches limit.") == 1
    assert await link.next() == [15, "Message count reaches limit."]
    assert (await link.next())[0] == "closed"
    second, _ = await ServerLink.open(session, emulator)
    assert emulator.servers.drop() == 1
    assert (await second.next())[0] == "closed"
    assert await eventually(lambda: emulator.state()["serverConnections"] == [])


async def test_server_faults_over_http_hooks(
    emulator: EmulatorServer, session: aiohttp.ClientSession
) -> None:
    url = f"{emulator.base_url}/_emulator/server-faults"
    async with session.post(url, json={"refuse_handshake": "nope", "ack_delay_ms": 5}) as response:
        assert response.status == 200
        assert (await response.json())["refuse_handshake"] == "nope"
    _, refused = await ServerLink.open(session, emulator)
    assert refused[1] == "nope"
    async with session.delete(url) as response:
        assert (await response.json())["refuse_handshake"] is None
    link, _ = await ServerLink.open(session, emulator)
    async with session.post(url, json={"drop": "all"}) as response:
        assert (await response.json())["dropped"] == 1
    assert (await link.next())[0] == "closed"
    async with session.post(url, json={"ack_delay_ms": -1}) as response:
        assert response.status == 400


async def test_kill_cuts_server_connections_without_a_close_frame(session: aiohttp.ClientSession) -> None:
    server = EmulatorServer(access_key=ACCESS_KEY)
    await server.start()
    link, _ = await ServerLink.open(session, server)
    await server.kill()
    closed = await link.next()
    assert closed[0] == "closed"
    assert link.ws.close_code != 1000
