"""A Python SignalR client from PyPI (pysignalr) receives REST sends from the emulator.

Two ways in: straight at the emulator (negotiate v0, then ``id=``), and through an
app's negotiate function returning ``{url, accessToken}``, after which pysignalr skips
the second negotiate and opens the socket without ``id``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from emu_support import Rest, client_token, eventually
from pysignalr.client import SignalRClient
from pysignalr.messages import CompletionMessage

from bridge.emulator import EmulatorServer
from bridge.signalr.connection_string import parse_connection_string
from bridge.signalr.tokens import client_access

pytestmark = pytest.mark.integration


class Received:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, list[Any]]] = asyncio.Queue()
        self.opened = asyncio.Event()

    def attach(self, client: SignalRClient, *targets: str) -> None:
        for target in targets:

            async def handler(arguments: list[Any], target: str = target) -> None:
                await self.queue.put((target, arguments))

            client.on(target, handler)

        async def opened() -> None:
            self.opened.set()

        async def errored(message: CompletionMessage) -> None:
            raise AssertionError(f"client error: {message}")

        client.on_open(opened)
        client.on_error(errored)

    async def next(self) -> tuple[str, list[Any]]:
        return await asyncio.wait_for(self.queue.get(), timeout=10)


@contextlib.asynccontextmanager
async def running(client: SignalRClient, received: Received) -> AsyncIterator[None]:
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(received.opened.wait(), timeout=10)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@contextlib.asynccontextmanager
async def negotiate_function(emulator: EmulatorServer, hub: str, user: str) -> AsyncIterator[str]:
    """A stand-in for the app's negotiate endpoint (the Functions input binding's job)."""
    conn = parse_connection_string(emulator.connection_string)

    async def negotiate(_request: web.Request) -> web.Response:
        url, token = client_access(conn, hub, user_id=user)
        return web.json_response({"url": url, "accessToken": token})

    app = web.Application()
    app.router.add_post("/api/negotiate", negotiate)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api"
    finally:
        await runner.cleanup()


async def test_pysignalr_through_a_negotiate_function_receives_broadcast_and_user_sends(
    emulator: EmulatorServer, rest: Rest
) -> None:
    received = Received()
    async with negotiate_function(emulator, "chat", "py-user") as app_url:
        client = SignalRClient(app_url)
        received.attach(client, "broadcast", "toUser")
        async with running(client, received):
            state = emulator.state()["connections"]
            assert [(c["hub"], c["userId"]) for c in state] == [("chat", "py-user")]
            assert (await rest.send("/api/hubs/chat/:send", "broadcast", "all", 1)).status_code == 202
            assert await received.next() == ("broadcast", ["all", 1])
            assert (
                await rest.send("/api/hubs/chat/users/py-user/:send", "toUser", {"k": "v"})
            ).status_code == 202
            assert await received.next() == ("toUser", [{"k": "v"}])


async def test_pysignalr_negotiating_with_the_emulator_receives_group_sends(
    emulator: EmulatorServer, rest: Rest
) -> None:
    received = Received()
    token = client_token("chat", "py-direct")
    client = SignalRClient(
        f"{emulator.base_url}/client/?hub=chat", headers={"Authorization": f"Bearer {token}"}
    )
    received.attach(client, "toGroup")
    async with running(client, received):
        assert (await rest.call("PUT", "/api/hubs/chat/users/py-direct/groups/team")).status_code == 200
        assert (
            await rest.send("/api/hubs/chat/groups/team/:send", "toGroup", "hello team")
        ).status_code == 202
        assert await received.next() == ("toGroup", ["hello team"])
    assert await eventually(lambda: not emulator.state()["connections"])
