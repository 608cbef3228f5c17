"""The client side of the service: negotiate and the WebSocket endpoint (SIGNALR.md §4, §5).

Only the WebSockets transport is offered (negotiate lists WebSockets alone, so official
clients never try the others), with the JSON and MessagePack hub protocols. With upstream
settings, connects, disconnects and client invocations are sent upstream (``upstream.py``);
without them clients are listen-only and an invocation closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.typedefs import Handler

from bridge.emulator import hub_protocols, names, protocol
from bridge.emulator.auth import AuthError, TokenValidator, bearer_token, user_id_of
from bridge.emulator.hub import ClientConnection, ServiceState
from bridge.emulator.hub_protocols import Frame
from bridge.emulator.rest import request_target
from bridge.emulator.upstream import Caller, UpstreamCaller, claims_of

TRANSPORTS = [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}]
CLIENT_INVOCATION_ERROR = "Invocation from a client is not supported: the hub is serverless without upstream."
STREAM_ERROR = "Stream invocations from a client are not supported in serverless mode."


@dataclass(frozen=True)
class ClientTimings:
    """Seconds. ``keepalive`` must stay below the clients' 30 s server timeout."""

    keepalive: float = 15.0
    client_timeout: float = 30.0
    handshake_timeout: float = 15.0
    negotiate_ttl: float = 15.0
    invoke_timeout: float = 30.0


@dataclass(frozen=True)
class _Pending:
    connection_id: str
    hub: str
    expires_at: float


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Browsers call negotiate cross-origin with credentials: echo the Origin, allow credentials."""
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith("/client"):
        response: web.StreamResponse = await handler(request)
        return response
    cors = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(cors)
        raise
    if not response.prepared:  # a WebSocket upgrade has already sent its headers
        response.headers.update(cors)
    return response


def _new_id() -> str:
    return secrets.token_urlsafe(16)


class ClientEndpoint:
    def __init__(
        self, state: ServiceState, validator: TokenValidator, advertised_host: str, timings: ClientTimings
    ) -> None:
        self._state = state
        self._validator = validator
        self._host = advertised_host
        self._timings = timings
        self._pending: dict[str, _Pending] = {}
        self._sessions: set[asyncio.Task[Any]] = set()
        self.upstream: UpstreamCaller | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("POST", "/client/negotiate", self.negotiate)
        router.add_route("OPTIONS", "/client/negotiate", self.preflight)
        for path in ("/client", "/client/"):
            router.add_route("GET", path, self.connect)
            router.add_route("OPTIONS", path, self.preflight)

    def _authorize(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        """(hub, claims) of a client request, or a 400/401 response raised."""
        hub = request.query.get("hub")
        try:
            if not hub:
                raise names.InvalidNameError("The hub query parameter is required.")
            hub = names.effective_hub(hub)
        except names.InvalidNameError as exc:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": str(exc)}), content_type="application/json"
            ) from None
        try:
            claims = self._validator.validate_client(
                bearer_token(request.headers, request.query), request_target(request, self._host), hub
            )
        except AuthError as exc:
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": exc.www_authenticate}) from None
        return hub, claims

    async def preflight(self, request: web.Request) -> web.Response:
        headers = {
            "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "*"),
            "Access-Control-Max-Age": "600",
        }
        return web.Response(status=204, headers=headers)

    async def negotiate(self, request: web.Request) -> web.Response:
        hub, _claims = self._authorize(request)
        version = 1 if request.query.get("negotiateVersion", "0") not in {"", "0"} else 0
        now = time.monotonic()
        for key in [k for k, p in self._pending.items() if p.expires_at <= now]:
            del self._pending[key]
        connection_id = _new_id()
        body: dict[str, Any] = {"connectionId": connection_id, "negotiateVersion": version}
        key = connection_id
        if version >= 1:
            key = body["connectionToken"] = _new_id()
        body["availableTransports"] = TRANSPORTS
        self._pending[key] = _Pending(connection_id, hub, now + self._timings.negotiate_ttl)
        return web.json_response(body)

    async def connect(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise web.HTTPBadRequest(text="The emulator serves only the WebSockets transport.")
        hub, claims = self._authorize(request)
        token = request.query.get("id")
        if token is None:
            connection_id = _new_id()  # Python clients skip the second negotiate
        else:
            pending = self._pending.pop(token, None)
            if pending is None or pending.hub != hub or pending.expires_at <= time.monotonic():
                raise web.HTTPNotFound(text="No Connection with that ID")
            connection_id = pending.connection_id
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        connection = ClientConnection(
            connection_id, hub, user_id_of(claims), claims=claims_of(claims), query=request.query_string
        )
        try:
            return await self._session(request, connection)
        finally:
            self._sessions.discard(task)

    async def shutdown(self, grace_seconds: float = 2.0) -> None:
        """Close every client socket, then stop sessions that do not end in time."""
        for connection in self._state.connections():
            self._state.remove_connection(connection.id)
            connection.close(None, allow_reconnect=False)
        sessions = set(self._sessions)
        if sessions:
            _done, pending = await asyncio.wait(sessions, timeout=grace_seconds)
            for task in pending:
                task.cancel()

    async def _session(self, request: web.Request, connection: ClientConnection) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        rest = await self._handshake(ws, connection)
        if rest is None:
            await ws.close()
            return ws
        self._state.add_connection(connection)
        writer = asyncio.create_task(self._write(ws, connection))
        try:
            if self.upstream is not None:  # before the client's first message is read
                await self.upstream.connected(_caller(connection))
            if not rest or await self._handle(connection, rest):
                await self._read(ws, connection)
        finally:
            connection.abandon_results()
            if self._state.remove_connection(connection.id) is not None:
                connection.close(None, allow_reconnect=False)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), timeout=2.0)
            writer.cancel()
            await ws.close()
            if self.upstream is not None:
                await self.upstream.disconnected(_caller(connection), connection.close_error)
        return ws

    async def _handshake(self, ws: web.WebSocketResponse, connection: ClientConnection) -> str | None:
        """Answer the handshake, note the client's protocol; the records that followed, or None."""
        try:
            message = await ws.receive(timeout=self._timings.handshake_timeout)
        except TimeoutError:
            return None
        if message.type == WSMsgType.TEXT:
            frame = str(message.data)
        elif message.type == WSMsgType.BINARY:
            frame = bytes(message.data).decode("utf-8", errors="replace")
        else:
            return None
        error, connection.protocol, rest = protocol.handshake_error(frame)
        if error is not None:
            await ws.send_str(protocol.encode({"error": error}))
            return None
        if connection.protocol == hub_protocols.MESSAGEPACK:
            # Binary from here on, the handshake answer included, as ASP.NET writes it.
            await ws.send_bytes(protocol.encode({}).encode())
            return ""  # a MessagePack client sends its first records in binary frames
        await ws.send_str(protocol.encode({}))
        return rest

    async def _read(self, ws: web.WebSocketResponse, connection: ClientConnection) -> None:
        while True:
            try:
                message = await ws.receive(timeout=self._timings.client_timeout)
            except TimeoutError:
                self._state.remove_connection(connection.id)
                connection.close(
                    "Server timeout elapsed without receiving a message from the client.",
                    allow_reconnect=False,
                )
                return
            if message.type == WSMsgType.TEXT and connection.protocol == hub_protocols.JSON:
                if not await self._handle(connection, str(message.data)):
                    return
            elif message.type == WSMsgType.BINARY and connection.protocol == hub_protocols.MESSAGEPACK:
                if not await self._handle(connection, bytes(message.data)):
                    return
            elif message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                self._fail(
                    connection, f"A {message.type.name.lower()} frame does not fit {connection.protocol}."
                )
                return
            else:
                return

    async def _handle(self, connection: ClientConnection, frame: str | bytes) -> bool:
        """Act on the client's records, in order; False once the connection is closing."""
        try:
            if isinstance(frame, bytes):
                messages = hub_protocols.decode_messagepack(frame)
            else:
                messages = protocol.decode(frame)
        except protocol.ProtocolError as exc:
            self._fail(connection, str(exc))
            return False
        for message in messages:
            kind = message.get("type")
            if kind == protocol.MessageType.CLOSE:
                self._state.remove_connection(connection.id)
                connection.outbox.put_nowait(None)
                return False
            if kind == protocol.MessageType.COMPLETION:
                connection.complete(message)
            elif kind == protocol.MessageType.INVOCATION and self.upstream is not None:
                # Awaited: the connection's next message waits, as the service does it.
                reply = await self.upstream.invocation(_caller(connection), message)
                if reply is not None:
                    connection.deliver(hub_protocols.translate_completion(connection.protocol, reply))
            elif kind in {protocol.MessageType.INVOCATION, protocol.MessageType.STREAM_INVOCATION}:
                self._fail(connection, CLIENT_INVOCATION_ERROR if self.upstream is None else STREAM_ERROR)
                return False
        return True

    def _fail(self, connection: ClientConnection, error: str) -> None:
        self._state.remove_connection(connection.id)
        connection.close(error, allow_reconnect=False)

    async def _write(self, ws: web.WebSocketResponse, connection: ClientConnection) -> None:
        """Write queued frames in order; ping when nothing was sent for ``keepalive``."""
        ping = hub_protocols.ping(connection.protocol)
        getter: asyncio.Task[Frame | None] | None = None
        try:
            while not ws.closed:
                if getter is None:
                    getter = asyncio.ensure_future(connection.outbox.get())
                done, _ = await asyncio.wait({getter}, timeout=self._timings.keepalive)
                if not done:
                    await _send(ws, ping)
                    continue
                frame, getter = getter.result(), None
                if frame is None:
                    await ws.close()
                    return
                await _send(ws, frame)
        except ConnectionError:
            return
        finally:
            if getter is not None:
                getter.cancel()


async def _send(ws: web.WebSocketResponse, frame: Frame) -> None:
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)


def _caller(connection: ClientConnection) -> Caller:
    return Caller(connection.id, connection.hub, connection.user_id, connection.claims, connection.query)
