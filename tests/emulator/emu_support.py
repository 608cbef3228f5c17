"""Helpers for the emulator tests: signed REST calls and raw JSON-protocol clients.

Tokens here are minted with pyjwt directly, not with bridge.signalr.tokens, so the
emulator's checks are exercised independently of the sender's code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import httpx
import jwt
import msgpack

from bridge.emulator import EmulatorServer
from bridge.emulator.clients import ClientTimings

ACCESS_KEY = "emulator-test-key-0123456789abcdefghijklmnopqrstuvwxyz"
API_VERSION = "2024-12-01"
RS = "\x1e"


def sign(aud: str, *, key: str = ACCESS_KEY, lifetime: float = 600, **claims: Any) -> str:
    now = int(time.time())
    payload = {"aud": aud, "exp": now + int(lifetime), "iat": now, **claims}
    return jwt.encode(payload, key.encode(), algorithm="HS256")


def client_token(hub: str, user: str | None = None, **kw: Any) -> str:
    claims = {"asrs.s.uid": user} if user else {}
    return sign(f"http://127.0.0.1/client/?hub={hub}", **kw, **claims)


class Rest:
    """Signed data-plane REST calls against one emulator, aud = the docs' form."""

    def __init__(self, server: EmulatorServer, http: httpx.AsyncClient) -> None:
        self.server = server
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json_body: Any = None,
        token: str | None = None,
        auto_token: bool = True,
        api_version: str | None = API_VERSION,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        query: list[tuple[str, Any]] = list(params.items() if isinstance(params, Mapping) else params or [])
        absolute = path.startswith("http")  # e.g. a nextLink, which carries its own query
        if api_version is not None and not path.startswith("/api/v1") and not absolute:
            query.append(("api-version", api_version))
        request = self.http.build_request(
            method,
            path if absolute else self.server.base_url + path,
            params=query or None,
            json=json_body,
            content=content,
            headers=headers,
        )
        if token is None and auto_token:
            token = sign(f"http://127.0.0.1{request.url.raw_path.decode().split('?')[0]}")
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        return await self.http.send(request)

    async def send(self, path: str, target: str, *args: Any, **kw: Any) -> httpx.Response:
        return await self.call("POST", path, json_body={"target": target, "arguments": list(args)}, **kw)


class RawClient:
    """A minimal JSON-protocol client over aiohttp, for precise protocol tests."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, connection_id: str) -> None:
        self.ws = ws
        self.connection_id = connection_id
        self._buffer: list[dict[str, Any]] = []

    async def next(self, *, skip_pings: bool = True, wait: float = 10) -> dict[str, Any]:
        while True:
            while self._buffer:
                message = self._buffer.pop(0)
                if not (skip_pings and message.get("type") == 6):
                    return message
            frame = await self.ws.receive(timeout=wait)
            if frame.type != aiohttp.WSMsgType.TEXT:
                return {"closed": True, "ws_type": frame.type.name}
            self._buffer.extend(json.loads(r) for r in str(frame.data).split(RS) if r)

    async def invocations(self, count: int) -> list[dict[str, Any]]:
        found = []
        while len(found) < count:
            message = await self.next()
            assert message.get("type") == 1, message
            found.append(message)
        return found

    async def assert_silent(self) -> None:
        """Nothing but pings arrives: a round-trip marker sent later arrives first."""
        message = await self.next()
        assert message.get("target") == "__marker__", message


class Clients:
    def __init__(self, server: EmulatorServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.opened: list[RawClient] = []

    async def negotiate(self, hub: str, token: str | None, version: int = 1) -> aiohttp.ClientResponse:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{self.server.base_url}/client/negotiate?hub={hub}&negotiateVersion={version}"
        async with self.session.post(url, headers=headers) as response:
            await response.read()
            return response

    async def connect(
        self, hub: str = "chat", user: str | None = None, *, negotiate: bool = True
    ) -> RawClient:
        token = client_token(hub, user)
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{self.server.base_url}/client/?hub={hub}"
        connection_id = ""
        if negotiate:
            async with self.session.post(
                f"{self.server.base_url}/client/negotiate?hub={hub}&negotiateVersion=1", headers=headers
            ) as response:
                assert response.status == 200, await response.text()
                body = await response.json()
            connection_id = body["connectionId"]
            url += f"&id={body['connectionToken']}"
        ws = await self.session.ws_connect(url, headers=headers)
        await ws.send_str(json.dumps({"protocol": "json", "version": 1}) + RS)
        handshake = await ws.receive(timeout=10)
        assert handshake.data == "{}" + RS
        if not negotiate:
            connection_id = await self._find_id(hub, user)
        client = RawClient(ws, connection_id)
        self.opened.append(client)
        return client

    async def _find_id(self, hub: str, user: str | None) -> str:
        known = {c.connection_id for c in self.opened}
        for conn in self.server.state()["connections"]:
            if conn["hub"] == hub and conn["userId"] == user and conn["id"] not in known:
                return str(conn["id"])
        raise AssertionError("connection without negotiate was not registered")

    async def close_all(self) -> None:
        for client in self.opened:
            await client.ws.close()


FAST = ClientTimings(keepalive=0.5, client_timeout=30, handshake_timeout=5, negotiate_ttl=15)


async def marker(rest: Rest, client: RawClient, hub: str = "chat") -> None:
    """Send a marker to ``client`` so assert_silent can prove nothing came before it."""
    response = await rest.send(f"/api/hubs/{hub}/connections/{client.connection_id}/:send", "__marker__")
    assert response.status_code == 202


async def eventually(check: Any, wait: float = 10) -> Any:
    """Poll ``check()`` until truthy (state changes that follow a socket close)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        result = check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.02)


# --- server connections (the service protocol), built by hand with msgpack -----------------------


def frame(*message: Any) -> bytes:
    """One service-protocol frame: varint length prefix + MessagePack array."""
    body = msgpack.packb(list(message), use_bin_type=True)
    prefix, size = bytearray(), len(body)
    while size > 0x7F:
        prefix.append((size & 0x7F) | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes(prefix) + body


WEAK_HANDSHAKE = frame(1, 1, 2, "", 0, {})


def server_token(hub: str, **kw: Any) -> str:
    return sign(f"http://127.0.0.1/server/?hub={hub}", **kw)


class ServerLink:
    """A raw server connection to the emulator, for protocol-level tests."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self._buffer = b""
        self._messages: list[list[Any]] = []

    @classmethod
    async def open(
        cls,
        session: aiohttp.ClientSession,
        server: EmulatorServer,
        hub: str = "chat",
        *,
        token: str | None = None,
        handshake: bytes = WEAK_HANDSHAKE,
    ) -> tuple[ServerLink, list[Any]]:
        """Connect and hand-shake; (link, the HandshakeResponse)."""
        headers = {"Authorization": f"Bearer {token or server_token(hub)}"}
        url = f"{server.base_url}/server/?hub={hub}&cid=test-{time.monotonic_ns()}"
        link = cls(await session.ws_connect(url, headers=headers))
        await link.ws.send_bytes(handshake)
        return link, await link.next(skip_pings=False)

    async def send(self, *frames: bytes) -> None:
        await self.ws.send_bytes(b"".join(frames))

    async def next(self, *, skip_pings: bool = True, wait: float = 10) -> list[Any]:
        while True:
            while self._messages:
                message = self._messages.pop(0)
                if not (skip_pings and message == [3]):
                    return message
            received = await self.ws.receive(timeout=wait)
            if received.type != aiohttp.WSMsgType.BINARY:
                return ["closed", received.type.name]
            self._buffer += bytes(received.data)
            self._split()

    def _split(self) -> None:
        while self._buffer:
            size, shift, index = 0, 0, 0
            while index < len(self._buffer):
                byte = self._buffer[index]
                index += 1
                size |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            else:
                return
            if index + size > len(self._buffer):
                return
            self._messages.append(msgpack.unpackb(self._buffer[index : index + size], strict_map_key=False))
            self._buffer = self._buffer[index + size :]

    async def acked(self, message: bytes) -> list[Any]:
        """Send a ...WithAck message and return its Ack."""
        await self.send(message)
        return await self.next()
