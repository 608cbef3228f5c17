"""The client socket speaks the JSON hub protocol as the service does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from emu_support import ACCESS_KEY, FAST, RS, Clients, Rest, client_token, eventually

from bridge.emulator import EmulatorServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def fast_emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(access_key=ACCESS_KEY, test_hooks=True, timings=FAST) as server:
        yield server


async def _open(session: aiohttp.ClientSession, server: EmulatorServer) -> aiohttp.ClientWebSocketResponse:
    url = f"{server.base_url}/client/?hub=chat&access_token={client_token('chat', 'p')}"
    return await session.ws_connect(url)


async def test_server_pings_an_idle_connection(fast_emulator: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _open(session, fast_emulator)
        await ws.send_str('{"protocol":"json","version":1}' + RS)
        assert (await ws.receive(timeout=5)).data == "{}" + RS
        assert json.loads((await ws.receive(timeout=5)).data.rstrip(RS)) == {"type": 6}
        await ws.close()


async def test_unknown_protocol_gets_a_handshake_error_and_is_closed(emulator: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _open(session, emulator)
        await ws.send_str('{"protocol":"blazorpack","version":1}' + RS)
        reply = await ws.receive(timeout=5)
        assert json.loads(reply.data.rstrip(RS)) == {
            "error": "Requested protocol 'blazorpack' is not available."
        }
        assert (await ws.receive(timeout=5)).type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
    assert emulator.state()["connections"] == []


async def test_records_following_the_handshake_in_one_frame_are_processed(emulator: EmulatorServer) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await _open(session, emulator)
        await ws.send_str('{"protocol":"json","version":1}' + RS + '{"type":7}' + RS)
        assert (await ws.receive(timeout=5)).data == "{}" + RS
        assert await eventually(lambda: emulator.state()["connections"] == [])


async def test_client_invocation_closes_a_serverless_connection(clients: Clients) -> None:
    client = await clients.connect("chat", "caller")
    await client.ws.send_str(json.dumps({"type": 1, "target": "Echo", "arguments": ["x"]}) + RS)
    message = await client.next()
    assert message["type"] == 7
    assert "serverless" in message["error"]
    assert "allowReconnect" not in message
    assert await eventually(lambda: clients.server.state()["connections"] == [])


async def test_client_close_message_and_socket_close_forget_the_connection(
    clients: Clients, rest: Rest
) -> None:
    polite, abrupt = await clients.connect("chat", "polite"), await clients.connect("chat", "abrupt")
    await polite.ws.send_str('{"type":7}' + RS)
    await abrupt.ws.close()
    assert await eventually(lambda: clients.server.state()["connections"] == [])
    for user in ("polite", "abrupt"):
        assert (await rest.call("HEAD", f"/api/hubs/chat/users/{user}")).status_code == 404


async def test_negotiate_versions_zero_and_one(clients: Clients) -> None:
    token = client_token("chat")
    url = f"{clients.server.base_url}/client/negotiate?hub=chat"
    headers = {"Authorization": f"Bearer {token}"}
    async with clients.session.post(url, headers=headers) as v0:
        body0 = await v0.json()
    async with clients.session.post(url + "&negotiateVersion=1", headers=headers) as v1:
        body1 = await v1.json()
    assert body0["negotiateVersion"] == 0
    assert "connectionToken" not in body0
    assert body1["negotiateVersion"] == 1
    assert body1["connectionToken"] != body1["connectionId"]
    assert [t["transport"] for t in body1["availableTransports"]] == ["WebSockets"]


async def test_negotiate_preflight_allows_the_browser_headers(clients: Clients) -> None:
    url = f"{clients.server.base_url}/client/negotiate?hub=chat&negotiateVersion=1"
    headers = {
        "Origin": "http://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,x-requested-with,x-signalr-user-agent",
    }
    async with clients.session.options(url, headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "http://app.example"
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert "x-signalr-user-agent" in response.headers["Access-Control-Allow-Headers"]


async def test_stop_closes_client_sockets_and_start_stop_are_idempotent() -> None:
    server = EmulatorServer(access_key=ACCESS_KEY)
    await server.start()
    await server.start()
    port = server.port
    async with aiohttp.ClientSession() as session:
        ws = await _open(session, server)
        await ws.send_str('{"protocol":"json","version":1}' + RS)
        assert (await ws.receive(timeout=5)).data == "{}" + RS
        await server.stop()
        assert json.loads((await ws.receive(timeout=5)).data.rstrip(RS)) == {"type": 7}
        assert (await ws.receive(timeout=5)).type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
        await server.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/api/health")
