"""The official JavaScript client (@microsoft/signalr, Node; JSON and MessagePack) works against the emulator.

The client gets its URL and token from ``signalr-bridge token`` (what a negotiate
function returns), negotiates, connects over WebSockets and receives REST sends.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest
from emu_support import Rest, ServerLink, frame

from bridge.emulator import EmulatorServer

pytestmark = pytest.mark.integration

JS_DIR = Path(__file__).parent / "js"
TARGETS = ["broadcast", "direct", "toUser", "toGroup", "marker"]


async def _token(connection_string: str, hub: str, user: str) -> dict[str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "token", "--connection-string", connection_string,
        "--hub", hub, "--user", user,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode == 0
    result: dict[str, str] = json.loads(out)
    return result


class JsClient:
    def __init__(self, process: asyncio.subprocess.Process, protocol: str) -> None:
        self.process = process
        self.protocol = protocol

    async def event(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=20)
        assert line, "the node client exited without reporting"
        event: dict[str, Any] = json.loads(line)
        return event

    async def message(self) -> tuple[str, list[Any]]:
        event = await self.event()
        assert event["event"] == "message", event
        return event["target"], event["arguments"]


@pytest.fixture(params=["json", "messagepack"])
async def js_client(emulator: EmulatorServer, request: pytest.FixtureRequest) -> AsyncIterator[JsClient]:
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "@microsoft" / "signalr").is_dir():
        pytest.fail(
            "@microsoft/signalr is not installed: run .ci/setup.d/20-emulator-js.sh (needs node + npm)"
        )
    access = await _token(emulator.connection_string, "Chat", "js-user")
    options = {**access, "targets": TARGETS, "protocol": request.param}
    process = await asyncio.create_subprocess_exec(
        node, str(JS_DIR / "client.mjs"), json.dumps(options),
        cwd=JS_DIR, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield JsClient(process, request.param)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_js_client_receives_sends_and_is_closed_over_rest(
    emulator: EmulatorServer, rest: Rest, js_client: JsClient
) -> None:
    connected = await js_client.event()
    assert connected["event"] == "connected", connected
    connection_id = connected["connectionId"]
    assert [c["userId"] for c in emulator.state()["connections"]] == ["js-user"]

    assert (await rest.send("/api/hubs/chat/:send", "broadcast", "to all", {"n": 1})).status_code == 202
    assert await js_client.message() == ("broadcast", ["to all", {"n": 1}])
    assert (await rest.send("/api/hubs/chat/users/js-user/:send", "toUser", 2)).status_code == 202
    assert await js_client.message() == ("toUser", [2])
    assert (await rest.send(f"/api/hubs/chat/connections/{connection_id}/:send", "direct")).status_code == 202
    assert await js_client.message() == ("direct", [])

    invoked = await rest.send(f"/api/hubs/chat/connections/{connection_id}/:invoke", "ask", "why")
    assert (invoked.status_code, invoked.json()) == (200, {"result": {"answer": "why"}})

    joined = await rest.call("PUT", f"/api/hubs/chat/groups/room/connections/{connection_id}")
    assert joined.status_code == 200
    await rest.send("/api/hubs/chat/groups/room/:send", "toGroup", "in room")
    assert await js_client.message() == ("toGroup", ["in room"])

    left = await rest.call("DELETE", f"/api/hubs/chat/groups/room/connections/{connection_id}")
    assert left.status_code == 200
    await rest.send("/api/hubs/chat/groups/room/:send", "toGroup", "after leaving")
    await rest.send(f"/api/hubs/chat/connections/{connection_id}/:send", "marker")
    assert await js_client.message() == ("marker", [])  # the group send never arrived

    closed = await rest.call(
        "DELETE", f"/api/hubs/chat/connections/{connection_id}", params={"reason": "done"}
    )
    assert closed.status_code == 200
    event = await js_client.event()
    assert event["event"] == "closed"
    assert "done" in event["error"]


async def test_js_client_gets_the_payload_of_its_protocol_from_a_server_connection(
    emulator: EmulatorServer, js_client: JsClient
) -> None:
    assert (await js_client.event())["event"] == "connected"
    json_text = json.dumps({"type": 1, "target": "toUser", "arguments": ["via json", 1]}) + "\x1e"
    body = msgpack.packb([1, {}, None, "toUser", ["via messagepack", 2], []])
    both = {"json": json_text.encode(), "messagepack": bytes([len(body)]) + body}
    async with aiohttp.ClientSession() as session:
        link, _ = await ServerLink.open(session, emulator, hub="chat")
        await link.send(frame(8, "js-user", both, {}))
        expected = "via json" if js_client.protocol == "json" else "via messagepack"
        assert (await js_client.message())[1][0] == expected
