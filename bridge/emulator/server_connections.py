"""The ``/server`` endpoint: persistent server connections speaking the service protocol.

What a sender (the Management SDK's Persistent transport, or the bridge) needs, per
SERVICE-PROTOCOL.md §5: a Bearer token whose ``aud`` is ``{scheme}://{host}/server/?hub=<hub>``,
a HandshakeRequest of version 1 within the handshake timeout, then data messages fanned out to the
hub's clients (each client gets the payload of its own protocol, verbatim, or nothing), group and
close messages, ``...WithAck`` messages answered by ``Ack``, keep-alive pings both ways and
``echo`` pings written back. Unknown message types and extension keys are ignored.

Choices where the service's behaviour is UNCONFIRMED (listed in README.md):

* The emulator is serverless: only Weak connections (type 2) are accepted; a Default or OnDemand
  handshake (types 0/1, which would carry clients) is refused with an error message.
* ``NotFound`` acks: join or leave of an unknown connection, close of an unknown connection,
  and the existence checks that say no; everything else is ``Ok``.
* A server connection silent for ``ServerTimings.timeout`` (30 s, what the SDK allows the service)
  is closed; the emulator pings every ``keepalive`` (5 s, the service's rate).
* A message over 1 MiB or bytes that are not the protocol close the connection (code 1002).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from bridge.emulator import names
from bridge.emulator import service_protocol as sp
from bridge.emulator.auth import AuthError, TokenValidator, bearer_token
from bridge.emulator.hub import ClientConnection, ServiceState
from bridge.emulator.rest import request_target
from bridge.emulator.server_faults import ServerFaults

WEAK_ONLY = "The emulator is serverless: only Weak server connections (type 2) are accepted."


@dataclass(frozen=True)
class ServerTimings:
    keepalive: float = 5.0
    timeout: float = 30.0
    handshake_timeout: float = 15.0


@dataclass
class ServerSession:
    """One accepted server connection."""

    id: str
    hub: str
    cid: str
    request: web.Request
    connected_at: float = field(default_factory=time.time)
    received: Counter[int] = field(default_factory=Counter)
    outbox: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)

    def write(self, data: bytes | None) -> None:
        """Queue ``data``; ``None`` closes the connection once what was queued before is written."""
        self.outbox.put_nowait(data)

    def abort(self) -> None:
        """Cut the TCP connection with no close frame, as a crashing service would."""
        if self.request.transport is not None:
            self.request.transport.abort()


# Where the AckId sits in each ...WithAck message.
_ACK_INDEX = {
    sp.JOIN_GROUP_WITH_ACK: 3,
    sp.LEAVE_GROUP_WITH_ACK: 3,
    sp.CHECK_USER_IN_GROUP_WITH_ACK: 3,
    sp.CHECK_GROUP_EXISTENCE_WITH_ACK: 2,
    sp.CHECK_CONNECTION_EXISTENCE_WITH_ACK: 2,
    sp.CHECK_USER_EXISTENCE_WITH_ACK: 2,
    sp.USER_JOIN_GROUP_WITH_ACK: 3,
    sp.USER_LEAVE_GROUP_WITH_ACK: 3,
    sp.CLOSE_CONNECTION_WITH_ACK: 3,
    sp.CLOSE_CONNECTIONS_WITH_ACK: 2,
    sp.CLOSE_USER_CONNECTIONS_WITH_ACK: 3,
    sp.CLOSE_GROUP_CONNECTIONS_WITH_ACK: 3,
}


class ServerEndpoint:
    def __init__(
        self,
        state: ServiceState,
        validator: TokenValidator,
        advertised_host: str,
        timings: ServerTimings,
        faults: ServerFaults,
    ) -> None:
        self._state = state
        self._validator = validator
        self._host = advertised_host
        self._timings = timings
        self._faults = faults
        self._sessions: dict[str, ServerSession] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for path in ("/server", "/server/"):
            router.add_route("GET", path, self.connect)

    # one-off faults and inspection ------------------------------------------------------------
    def drop(self, count: int | None = None) -> int:
        """Cut ``count`` server connections (all, when None); the number cut."""
        sessions = list(self._sessions.values())[:count]
        for session in sessions:
            session.abort()
        return len(sessions)

    def service_error(self, message: str) -> int:
        """Send ``ServiceError`` to every server connection, then close it, as the service does."""
        sessions = list(self._sessions.values())
        for session in sessions:
            session.write(sp.service_error(message))
            session.write(None)
        return len(sessions)

    def offline(self) -> int:
        """Tell every server connection ``Offline``: its sender must stop writing on it."""
        sessions = list(self._sessions.values())
        for session in sessions:
            session.write(sp.offline(session.id))
        return len(sessions)

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "id": s.id,
                "hub": s.hub,
                "cid": s.cid,
                "connectedAt": s.connected_at,
                "received": {str(k): v for k, v in sorted(s.received.items())},
            }
            for s in self._sessions.values()
        ]

    async def shutdown(self, grace_seconds: float = 2.0) -> None:
        for session in list(self._sessions.values()):
            session.write(None)
        tasks = set(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()

    # the connection ---------------------------------------------------------------------------
    async def connect(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise web.HTTPBadRequest(text="Server connections are WebSockets.")
        raw_hub, cid = request.query.get("hub"), request.query.get("cid")
        try:
            if not raw_hub:
                raise names.InvalidNameError("The hub query parameter is required.")
            hub = names.effective_hub(raw_hub)
        except names.InvalidNameError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if not cid:
            raise web.HTTPBadRequest(text="The cid query parameter is required.")
        try:
            self._validator.validate_server(
                bearer_token(request.headers, {}), request_target(request, self._host), hub
            )
        except AuthError as exc:
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": exc.www_authenticate}) from None
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            return await self._serve(request, ServerSession(secrets.token_urlsafe(12), hub, cid, request))
        finally:
            self._tasks.discard(task)

    async def _serve(self, request: web.Request, session: ServerSession) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=sp.MAX_MESSAGE_BYTES + 16)
        await ws.prepare(request)
        reader = sp.StreamReader()
        try:
            first = await self._handshake(ws, reader, session)
        except sp.ServiceProtocolError as exc:
            await ws.close(code=WSCloseCode.PROTOCOL_ERROR, message=str(exc).encode()[:120])
            return ws
        if first is None:
            await ws.close()
            return ws
        self._sessions[session.id] = session
        writer = asyncio.create_task(self._write(ws, session))
        try:
            if self._handle_all(session, first):
                await self._read(ws, reader, session)
        except sp.ServiceProtocolError as exc:
            await ws.close(code=WSCloseCode.PROTOCOL_ERROR, message=str(exc).encode()[:120])
        finally:
            self._sessions.pop(session.id, None)
            session.write(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), timeout=2.0)
            writer.cancel()
            await ws.close()
        return ws

    async def _handshake(
        self, ws: web.WebSocketResponse, reader: sp.StreamReader, session: ServerSession
    ) -> list[list[Any]] | None:
        """Answer the HandshakeRequest; the messages that came with it, or None when refused."""
        messages: list[list[Any]] = []
        deadline = time.monotonic() + self._timings.handshake_timeout
        while not messages:
            try:
                frame = await ws.receive(timeout=max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                return None
            if frame.type != WSMsgType.BINARY:
                return None
            messages = reader.feed(bytes(frame.data))
        request = sp.Fields(messages[0])
        if request.type != sp.HANDSHAKE_REQUEST:
            raise sp.ServiceProtocolError("The first message must be a HandshakeRequest.")
        error = self._faults.refusal()
        if error is None and request.integer(1) != sp.VERSION:
            error = "Version mismatch."
        connection_type = request.integer(2) if len(request.message) > 2 else 0
        if error is None and connection_type != sp.WEAK:
            error = WEAK_ONLY
        if error is not None:
            await ws.send_bytes(sp.handshake_response(error, None))
            return None
        await ws.send_bytes(sp.handshake_response("", session.id))
        return messages[1:]

    async def _read(self, ws: web.WebSocketResponse, reader: sp.StreamReader, session: ServerSession) -> None:
        while True:
            try:
                frame = await ws.receive(timeout=self._timings.timeout)
            except TimeoutError:
                return
            if frame.type != WSMsgType.BINARY:
                return
            if not self._handle_all(session, reader.feed(bytes(frame.data))):
                return

    def _handle_all(self, session: ServerSession, messages: list[list[Any]]) -> bool:
        """Act on messages in order; False once a fault cut the connection."""
        for message in messages:
            fields = sp.Fields(message)
            session.received[fields.type] += 1
            self._dispatch(session, fields)
            if fields.type != sp.PING and self._faults.drop_now():
                session.abort()
                return False
        return True

    def _dispatch(self, session: ServerSession, m: sp.Fields) -> None:
        state, hub, kind = self._state, session.hub, m.type
        if kind == sp.BROADCAST_DATA:
            excluded = set(m.texts(1))
            state.send_payloads((c for c in state.connections(hub) if c.id not in excluded), m.payloads(2))
        elif kind == sp.USER_DATA:
            state.send_payloads(state.connections_of_user(hub, m.text(1)), m.payloads(2))
        elif kind == sp.MULTI_USER_DATA:
            users = set(m.texts(1))
            state.send_payloads((c for c in state.connections(hub) if c.user_id in users), m.payloads(2))
        elif kind == sp.MULTI_CONNECTION_DATA:
            found = (state.connection(hub, i) for i in dict.fromkeys(m.texts(1)))
            state.send_payloads((c for c in found if c is not None), m.payloads(2))
        elif kind == sp.GROUP_BROADCAST_DATA:
            excluded = set(m.texts(2))
            excluded_users = set(m.texts(5)) if len(m.message) > 5 else set()
            members = state.connections_in_group(hub, m.text(1))
            chosen = (c for c in members if c.id not in excluded and c.user_id not in excluded_users)
            state.send_payloads(chosen, m.payloads(3))
        elif kind == sp.MULTI_GROUP_BROADCAST_DATA:
            union: dict[str, ClientConnection] = {}
            for group in m.texts(1):
                union.update((c.id, c) for c in state.connections_in_group(hub, group))
            state.send_payloads(union.values(), m.payloads(2))
        elif kind in (sp.JOIN_GROUP, sp.LEAVE_GROUP):
            connection = state.connection(hub, m.text(1))
            if connection is not None:
                if kind == sp.JOIN_GROUP:
                    connection.groups.add(names.check_group(m.text(2)))
                else:
                    connection.groups.discard(m.text(2))
        elif kind == sp.USER_JOIN_GROUP:
            state.add_user_to_group(hub, m.text(1), names.check_group(m.text(2)), m.ttl(3))
        elif kind == sp.USER_LEAVE_GROUP:
            self._user_leave(hub, m.text(1), m.optional_text(2))
        elif kind == sp.CLOSE_CONNECTION:
            connection = state.connection(hub, m.text(1))
            if connection is not None:
                state.close([connection], m.optional_text(2) or None)
        elif kind in _ACK_INDEX:
            self._ack(session, m.integer(_ACK_INDEX[kind]), self._acked(hub, m))
        elif kind == sp.PING and "echo" in m.message[1::2]:
            session.write(sp.write(*m.message))  # a latency probe: written back as it came
        # Anything else (future types, types a sender never sends) is ignored, as the SDK does.

    def _acked(self, hub: str, m: sp.Fields) -> int:
        """Carry out a ...WithAck message; its AckStatus."""
        state, kind = self._state, m.type
        ok, not_found = sp.ACK_OK, sp.ACK_NOT_FOUND
        if kind in (sp.JOIN_GROUP_WITH_ACK, sp.LEAVE_GROUP_WITH_ACK, sp.CLOSE_CONNECTION_WITH_ACK):
            connection = state.connection(hub, m.text(1))
            if connection is None:
                return not_found
            if kind == sp.JOIN_GROUP_WITH_ACK:
                connection.groups.add(names.check_group(m.text(2)))
            elif kind == sp.CLOSE_CONNECTION_WITH_ACK:
                state.close([connection], m.optional_text(2) or None)
            elif (group := m.optional_text(2)) is None:
                connection.groups.clear()
            else:
                connection.groups.discard(group)
            return ok
        if kind == sp.USER_JOIN_GROUP_WITH_ACK:
            state.add_user_to_group(hub, m.text(1), names.check_group(m.text(2)), m.ttl(4))
            return ok
        if kind == sp.USER_LEAVE_GROUP_WITH_ACK:
            self._user_leave(hub, m.text(1), m.optional_text(2))
            return ok
        if kind == sp.CHECK_USER_IN_GROUP_WITH_ACK:
            return ok if state.user_in_group(hub, m.text(1), m.text(2)) else not_found
        if kind == sp.CHECK_GROUP_EXISTENCE_WITH_ACK:
            return ok if state.connections_in_group(hub, m.text(1)) else not_found
        if kind == sp.CHECK_CONNECTION_EXISTENCE_WITH_ACK:
            return ok if state.connection(hub, m.text(1)) is not None else not_found
        if kind == sp.CHECK_USER_EXISTENCE_WITH_ACK:
            return ok if state.connections_of_user(hub, m.text(1)) else not_found
        # Closes of many: the hub (31), a user (32), a group (33), each minus excluded connections.
        if kind == sp.CLOSE_CONNECTIONS_WITH_ACK:
            reason, excluded, chosen = m.optional_text(1), set(m.texts(3)), state.connections(hub)
        else:
            reason, excluded = m.optional_text(2), set(m.texts(4))
            name = m.text(1)
            if kind == sp.CLOSE_USER_CONNECTIONS_WITH_ACK:
                chosen = state.connections_of_user(hub, name)
            else:
                chosen = state.connections_in_group(hub, name)
        state.close((c for c in chosen if c.id not in excluded), reason or None)
        return ok

    def _user_leave(self, hub: str, user: str, group: str | None) -> None:
        if group is None:
            self._state.remove_user_from_all_groups(hub, user)
        else:
            self._state.remove_user_from_group(hub, user, group)

    def _ack(self, session: ServerSession, ack_id: int, status: int) -> None:
        if self._faults.withhold():
            return
        reply = sp.ack(ack_id, status)
        delay = self._faults.ack_delay_seconds
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, session.write, reply)
        else:
            session.write(reply)

    async def _write(self, ws: web.WebSocketResponse, session: ServerSession) -> None:
        """Write queued messages, several per WebSocket message; ping after ``keepalive`` of silence."""
        ping = sp.ping()
        try:
            while not ws.closed:
                try:
                    data = await asyncio.wait_for(session.outbox.get(), self._timings.keepalive)
                except TimeoutError:
                    await ws.send_bytes(ping)
                    continue
                chunks: list[bytes] = []
                while data is not None:
                    chunks.append(data)
                    if session.outbox.empty():
                        break
                    data = session.outbox.get_nowait()
                if chunks:
                    await ws.send_bytes(b"".join(chunks))
                if data is None:
                    await ws.close()
                    return
        except ConnectionError:
            return
