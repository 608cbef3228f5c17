"""One server connection: dial, handshake, write with barriers, read acks, ping, reconnect.

At-least-once over a fire-and-forget stream: the service answers nothing per send, but it reads
a connection in order, so the ``Ack`` of a message written after a batch of sends proves the
batch arrived. Every send written is "unconfirmed" until the next acked message written after it
on this connection comes back: a group action's own ``...WithAck`` or, when none follows, a
barrier (a ``CheckConnectionExistenceWithAck`` for an id no client has).

Writes follow the acks: while an acked message is in flight, new messages wait (they could not
be confirmed before its ack anyway); when it comes back, everything waiting goes out as one
WebSocket message ended by a barrier. So a busy connection writes about once per round trip and
the service answers one check per round trip, and a send is confirmed within about two round
trips. ``barrier_every`` waiting messages are written at once, without waiting (see
:class:`PersistentSettings`). When the connection drops, everything unconfirmed on it fails with
a *retry* verdict and the client resends it: duplicates are possible, loss is not. Messages not
yet written stay queued, in order, for the next connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from bridge import __version__
from bridge.signalr.errors import AuthError
from bridge.signalr.outcome import DELIVERED, Outcome, Verdict, classify_ack

from . import protocol
from .settings import PersistentSettings

BARRIER_CONNECTION_ID = "signalr-bridge.barrier"
MAX_INBOUND_BYTES = 16 * 1024 * 1024
_BARRIER = protocol.check_connection_existence_with_ack(BARRIER_CONNECTION_ID)


class ConnectionEvents(Protocol):
    """What a connection tells its owner (the pool, then the transport: health, metrics, logs)."""

    def on_up(self, connection: ServerConnection) -> None: ...

    def on_down(self, connection: ServerConnection, verdict: Verdict, detail: str) -> None: ...

    def on_frame(self, messages: int) -> None: ...

    def on_confirmed(self, count: int, seconds: float) -> None: ...

    def on_unconfirmed(self, delta: int) -> None: ...


class _LostError(Exception):
    """The connection is unusable; ``verdict`` is what its unconfirmed messages get."""

    def __init__(self, verdict: Verdict, detail: str) -> None:
        super().__init__(detail)
        self.verdict = verdict
        self.detail = detail


@dataclass(slots=True)
class _Queued:
    future: asyncio.Future[Verdict]
    data: bytes | None  # a send (confirmed by a barrier) ...
    acked: protocol.AckedMessage | None  # ... or a message answered by its own Ack
    deadline: float


@dataclass(slots=True)
class _Waiter:
    """An acked message in flight and the sends written before it that its Ack confirms."""

    future: asyncio.Future[Verdict] | None  # None: a barrier
    covered: list[asyncio.Future[Verdict]]
    sent_at: float
    not_found_is_benign: bool


def _lost(reason: str, detail: str, status: int | None = None) -> _LostError:
    return _LostError(Verdict(Outcome.RETRY, reason, status), detail)


class ServerConnection:
    def __init__(
        self,
        *,
        url: str,
        hub: str,
        authorization: Callable[[], Awaitable[str]],
        session: aiohttp.ClientSession,
        settings: PersistentSettings,
        events: ConnectionEvents,
        index: int,
    ) -> None:
        self.url = url
        self.hub = hub
        self.index = index
        self._authorization = authorization
        self._session = session
        self._settings = settings
        self._events = events
        self._queue: deque[_Queued] = deque()
        self._waiters: dict[int, _Waiter] = {}
        self._uncovered: list[asyncio.Future[Verdict]] = []
        self._control: list[bytes] = []  # pings to write back
        self._ack_ids = 0
        self._wake = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader = protocol.FrameReader()
        self._last_write = 0.0
        self._draining = False  # ServiceError / Offline / close: write nothing new on this socket
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.connection_id: str | None = None
        self.ever_connected = False
        self.last_failure: Verdict | None = None

    # --- used by the pool ---------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"signalr-server-connection-{self.index}")

    def submit(self, data: bytes, *, within: float) -> asyncio.Future[Verdict]:
        """Queue a send; the future resolves when a barrier confirms it (or it fails).

        ``within``: seconds it may wait for the connection to be up before it fails (retry).
        """
        return self._enqueue(data, None, within)

    def submit_acked(self, message: protocol.AckedMessage, *, within: float) -> asyncio.Future[Verdict]:
        """Queue a message answered by its own Ack; the future resolves with the Ack's verdict."""
        return self._enqueue(None, message, within)

    def _enqueue(
        self, data: bytes | None, acked: protocol.AckedMessage | None, within: float
    ) -> asyncio.Future[Verdict]:
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        if self._closing:
            future.set_result(Verdict(Outcome.RETRY, "closed"))
            return future
        deadline = time.monotonic() + min(within, self._settings.queue_timeout)
        self._queue.append(_Queued(future, data, acked, deadline))
        self._wake.set()
        return future

    async def close(self, grace: float) -> None:
        """Confirm what was written (within ``grace``), then close with 1000; queued messages fail."""
        self._closing = True  # nothing new is queued from here on
        self._wake.set()
        pending = [item.future for item in self._queue] + self._uncovered
        for waiter in self._waiters.values():
            pending += waiter.covered if waiter.future is None else [*waiter.covered, waiter.future]
        if self._ws is not None and pending:
            await asyncio.wait(pending, timeout=grace)
        self._draining = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._fail_unconfirmed(Verdict(Outcome.RETRY, "closed"))
        self._fail_queued(float("inf"), Verdict(Outcome.RETRY, "closed"))

    # --- the connection's life ----------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            try:
                ws = await self._dial()
            except _LostError as lost:
                failures += 1
                self.last_failure = lost.verdict
                self._events.on_down(self, lost.verdict, lost.detail)
                await self._wait_before_redial(failures, lost.verdict)
                continue
            failures = 0
            verdict, detail = await self._serve(ws)
            self.last_failure = verdict
            self._events.on_down(self, verdict, detail)
            # The first re-dial after a drop is immediate (with a little jitter against a herd).
            await self._wait_before_redial(0, verdict)

    async def _wait_before_redial(self, failures: int, verdict: Verdict) -> None:
        if failures == 0:
            delay = random.uniform(0, 0.05)
        else:
            ceiling = min(self._settings.reconnect_max, self._settings.reconnect_base * 2 ** (failures - 1))
            delay = ceiling / 2 + random.random() * ceiling / 2
        end = time.monotonic() + delay
        while True:
            now = time.monotonic()
            # Messages waiting for this connection give up when their time is out (the client retries).
            self._fail_queued(now, verdict)
            if now >= end or self._closing:
                return
            await asyncio.sleep(min(end - now, 0.5))

    async def _dial(self) -> aiohttp.ClientWebSocketResponse:
        settings = self._settings
        try:
            authorization = await self._authorization()
        except AuthError as exc:
            reason = "auth-unavailable" if exc.transient else "auth"
            raise _lost(reason, f"no token: {exc}") from None
        headers = {
            "Authorization": authorization,
            "X-ASRS-Server-Id": settings.server_id,
            "Asrs-User-Agent": f"signalr-bridge/{__version__}",
        }
        url = f"{self.url}&cid={uuid.uuid4()}"
        try:
            async with asyncio.timeout(settings.handshake_timeout):
                ws = await self._session.ws_connect(
                    url, headers=headers, autoping=True, max_msg_size=MAX_INBOUND_BYTES, compress=0
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise _upgrade_refused(exc.status) from None
        except TimeoutError:
            raise _lost("timeout", "no WebSocket upgrade within the handshake timeout") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _lost("connect-failed", f"cannot connect: {type(exc).__name__}") from None
        try:
            await self._handshake(ws)
        except BaseException:
            await ws.close()
            raise
        return ws

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        reader = protocol.FrameReader()
        await ws.send_bytes(protocol.handshake_request())
        try:
            async with asyncio.timeout(self._settings.handshake_timeout):
                while True:
                    message = await ws.receive()
                    if message.type is not aiohttp.WSMsgType.BINARY:
                        raise _lost("connection-lost", "closed during the handshake")
                    for raw in reader.feed(bytes(message.data)):
                        parsed = protocol.parse(raw)
                        if not isinstance(parsed, protocol.HandshakeResponse):
                            raise _lost("handshake-refused", "the service answered something else first")
                        if parsed.error:
                            # Not the endpoint's fault for one record, the endpoint's for all.
                            raise _LostError(
                                Verdict(Outcome.RETRY, "handshake-refused", error_code=parsed.error),
                                f"handshake refused: {parsed.error}",
                            )
                        self.connection_id = parsed.connection_id
                        self._reader = reader
                        return
        except TimeoutError:
            raise _lost("timeout", "no handshake answer within the handshake timeout") from None
        except protocol.ProtocolError as exc:
            raise _lost("handshake-refused", f"not the service protocol: {exc}") from None

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[Verdict, str]:
        """Run the connection until it breaks; (what its unconfirmed messages get, why)."""
        self._ws, self._draining = ws, False
        self.ever_connected = True
        self._events.on_up(self)
        self._wake.set()
        self._last_write = time.monotonic()
        tasks = [asyncio.create_task(job) for job in (self._read(ws), self._write(ws), self._watch())]
        lost: _LostError
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            failed = next(iter(done)).exception()
            lost = failed if isinstance(failed, _LostError) else _lost("connection-lost", repr(failed))
        except asyncio.CancelledError:
            lost = _lost("closed", "closed by the bridge")
            raise
        finally:
            self._ws = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await ws.close()
            self._fail_unconfirmed(lost.verdict)
        return lost.verdict, lost.detail

    # --- writing -------------------------------------------------------------------------------

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        every = self._settings.barrier_every
        while True:
            if self._draining:
                if not self._waiters:
                    raise _lost("connection-lost", "the service took this connection offline")
            elif self._control or (self._queue and (not self._waiters or len(self._queue) >= every)):
                await self._flush(ws)
                continue
            self._wake.clear()
            await self._wake.wait()

    async def _watch(self) -> None:
        """Once a second: an ack overdue breaks the connection; a quiet one gets a keep-alive ping."""
        settings = self._settings
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            oldest = min((w.sent_at for w in self._waiters.values()), default=now)
            if now - oldest > settings.ack_timeout:
                raise _lost("timeout", f"no ack within {settings.ack_timeout:g} s")
            if not self._draining and now - self._last_write >= settings.keepalive:
                self._control.append(protocol.PING)
                self._wake.set()

    async def _flush(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Write what is queued, as few WebSocket messages as the size cap allows, barriers included."""
        settings = self._settings
        now = time.monotonic()
        chunks, self._control = self._control, []
        size = sends = 0
        while self._queue and size < settings.max_frame_bytes:
            item = self._queue.popleft()
            if item.future.done():
                continue  # its attempt gave up while it was queued
            if item.data is not None:
                chunks.append(item.data)
                self._uncovered.append(item.future)
                sends += 1
                if len(self._uncovered) >= settings.barrier_every:
                    chunks.append(self._waiter_for(None, now))
            else:
                assert item.acked is not None
                chunks.append(self._waiter_for(item, now))
            size += len(chunks[-1])
        if self._uncovered:
            chunks.append(self._waiter_for(None, now))
        if sends:
            self._events.on_unconfirmed(sends)
        if chunks:
            self._last_write = now
            await ws.send_bytes(b"".join(chunks))
            self._events.on_frame(len(chunks))

    def _waiter_for(self, item: _Queued | None, now: float) -> bytes:
        """Register the acked message ``item`` (a barrier when None) covering the sends before it."""
        self._ack_ids = self._ack_ids % 0x7FFFFFFF + 1  # Int32 ids, unique among those in flight
        ack_id = self._ack_ids
        if item is None:
            self._waiters[ack_id] = _Waiter(None, self._uncovered, now, True)
            data = _BARRIER.encode(ack_id)
        else:
            assert item.acked is not None
            self._waiters[ack_id] = _Waiter(item.future, self._uncovered, now, item.acked.not_found_is_benign)
            data = item.acked.encode(ack_id)
        self._uncovered = []
        return data

    # --- reading -------------------------------------------------------------------------------

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        reader = self._reader
        while True:
            try:
                message = await ws.receive(timeout=self._settings.service_timeout)
            except TimeoutError:
                silent = self._settings.service_timeout
                raise _lost("timeout", f"nothing from the service for {silent:g} s") from None
            if message.type is not aiohttp.WSMsgType.BINARY:
                code = ws.close_code
                raise _lost("connection-lost", f"closed by the service (code {code})")
            try:
                frames = reader.feed(bytes(message.data))
            except protocol.ProtocolError as exc:
                raise _lost("connection-lost", f"not the service protocol: {exc}") from None
            for raw in frames:
                self._on_message(protocol.parse(raw))

    def _on_message(self, message: protocol.Inbound | None) -> None:
        if isinstance(message, protocol.Ack):
            self._on_ack(message)
        elif isinstance(message, protocol.Ping):
            if message.get("echo") is not None:  # a latency probe: written back as it came
                self._control.append(protocol.ping(*message.values))
                self._wake.set()
        elif isinstance(message, protocol.ServiceError):
            # The service is about to drop this connection: write nothing more, read until it closes.
            self._draining = True
            self._wake.set()
        elif isinstance(message, protocol.ConnectionFlowControl):
            offline = message.operation == protocol.FlowControl.OFFLINE
            ours = message.connection_id in (None, self.connection_id)
            if offline and message.connection_type == protocol.SERVER_CONNECTION_TYPE and ours:
                self._draining = True
                self._wake.set()

    def _on_ack(self, ack: protocol.Ack) -> None:
        waiter = self._waiters.pop(ack.ack_id, None)
        if waiter is None:
            return  # late, after a timeout: those messages were already retried
        for future in waiter.covered:
            if not future.done():
                future.set_result(DELIVERED)
        if waiter.future is not None and not waiter.future.done():
            verdict = classify_ack(ack.status, ack.message, not_found_is_benign=waiter.not_found_is_benign)
            waiter.future.set_result(verdict)
        self._events.on_confirmed(len(waiter.covered), time.monotonic() - waiter.sent_at)
        if self._queue and not self._waiters:
            self._wake.set()  # what waited for this ack goes out now

    # --- failing -------------------------------------------------------------------------------

    def _fail_unconfirmed(self, verdict: Verdict) -> None:
        failed = 0
        for waiter in self._waiters.values():
            failed += len(waiter.covered)
            for future in waiter.covered:
                if not future.done():
                    future.set_result(verdict)
            if waiter.future is not None and not waiter.future.done():
                waiter.future.set_result(verdict)
        failed += len(self._uncovered)
        for future in self._uncovered:
            if not future.done():
                future.set_result(verdict)
        self._waiters.clear()
        self._uncovered = []
        if failed:
            self._events.on_unconfirmed(-failed)

    def _fail_queued(self, now: float, verdict: Verdict) -> None:
        """Fail the queued messages whose deadline is ``now`` or earlier."""
        if not any(item.deadline <= now for item in self._queue):
            return
        kept: deque[_Queued] = deque()
        for item in self._queue:
            if item.deadline <= now:
                if not item.future.done():
                    item.future.set_result(verdict)
            else:
                kept.append(item)
        self._queue = kept


def _upgrade_refused(status: int) -> _LostError:
    """The service refused the WebSocket upgrade: the endpoint is unusable until that changes."""
    if status == 401:
        return _lost("unauthorized", "WebSocket upgrade refused: HTTP 401 (wrong key or token)", status=401)
    if status == 403:
        return _lost("forbidden", "WebSocket upgrade refused: HTTP 403 (no permission)", status=403)
    if status == 404:
        return _lost("no-such-route", "WebSocket upgrade refused: HTTP 404 (no /server endpoint)", status=404)
    if status == 429:
        return _lost("throttled", "WebSocket upgrade refused: HTTP 429", status=429)
    return _lost("server-error", f"WebSocket upgrade refused: HTTP {status}", status=status)
