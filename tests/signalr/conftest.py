"""Fixtures for the delivery tests: emulators, a recording HTTP sink and a listening SignalR client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sr_helpers import FAST_RETRY, RS, Sink

from bridge.emulator import EmulatorServer
from bridge.signalr import CountingObserver, SignalRClient
from bridge.signalr.connection_string import parse_connection_string
from bridge.signalr.tokens import client_access


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(host="127.0.0.1", port=0, test_hooks=True) as server:
        yield server


@pytest.fixture
def observer() -> CountingObserver:
    return CountingObserver()


@pytest.fixture
async def client(emulator: EmulatorServer, observer: CountingObserver) -> AsyncIterator[SignalRClient]:
    async with SignalRClient(
        emulator.connection_string, hub="chat", retry=FAST_RETRY, observer=observer, health_interval=None
    ) as c:
        yield c


@dataclass
class Listener:
    """A SignalR client connected over WebSocket with the JSON protocol, collecting invocations."""

    ws: aiohttp.ClientWebSocketResponse
    session: aiohttp.ClientSession
    connection_id: str
    invocations: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    closes: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    """Client results: target -> value returned to blocking invocations."""
    task: asyncio.Task[None] | None = None

    async def next(self, wait: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.invocations.get(), wait)

    async def pump(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            for record in filter(None, msg.data.split(RS)):
                frame = json.loads(record)
                if frame.get("type") == 1:
                    await self.invocations.put(frame)
                    if "invocationId" in frame:
                        completion = {"type": 3, "invocationId": frame["invocationId"]}
                        if frame["target"] in self.answers:
                            completion["result"] = self.answers[frame["target"]]
                        else:
                            completion["error"] = f"no answer for {frame['target']}"
                        await self.ws.send_str(json.dumps(completion) + RS)
                elif frame.get("type") == 7:
                    self.closes.append(frame)


@pytest.fixture
async def listen(emulator: EmulatorServer) -> AsyncIterator[Callable[..., Any]]:
    """``await listen(user_id="alice", hub="chat")`` connects a listening client."""
    opened: list[Listener] = []
    conn = parse_connection_string(emulator.connection_string)

    async def connect(*, user_id: str | None = None, hub: str = "chat") -> Listener:
        url, token = client_access(conn, hub, user_id=user_id)
        before = {c["id"] for c in emulator.state()["connections"]}
        session = aiohttp.ClientSession()
        ws = await session.ws_connect(
            url.replace("http://", "ws://"), headers={"Authorization": f"Bearer {token}"}
        )
        await ws.send_str(json.dumps({"protocol": "json", "version": 1}) + RS)
        handshake = await ws.receive(timeout=5)
        assert json.loads(handshake.data.split(RS)[0]) == {}
        for _ in range(100):
            new = [c["id"] for c in emulator.state()["connections"] if c["id"] not in before]
            if new:
                break
            await asyncio.sleep(0.02)
        listener = Listener(ws=ws, session=session, connection_id=new[0])
        listener.task = asyncio.create_task(listener.pump())
        opened.append(listener)
        return listener

    yield connect
    for listener in opened:
        await listener.ws.close()
        await listener.session.close()
        if listener.task is not None:
            listener.task.cancel()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    recorder = Sink()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    recorder.base_url = f"http://127.0.0.1:{port}"
    try:
        yield recorder
    finally:
        await runner.cleanup()
