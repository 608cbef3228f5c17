"""The persistent transport of one endpoint: N server connections per hub, chosen by ordering key.

One key always rides one connection (``hash(key) % N``), so what the pipeline keeps in order per
key reaches the service in order, over any number of connections and across reconnects. Actions
without a key go round-robin. The endpoint is up while at least one of its connections is; the
transport reports that itself (``manages_health``), with the reason of the last failure, so a
refused handshake (wrong key, wrong mode) takes the endpoint down with one clear reason instead
of failing records one by one.

Pools are opened per hub on first use (the default hub's at start); with route hubs taken from
records, at most ``PersistentSettings.max_hubs`` pools stay open, the least recently used closed first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable
from typing import Any
from urllib.parse import quote

import aiohttp

from bridge.signalr.actions import Action
from bridge.signalr.endpoints import Endpoint
from bridge.signalr.observer import DeliveryObserver
from bridge.signalr.outcome import DELIVERED, Outcome, Verdict
from bridge.signalr.tokens import RestTokenProvider, client_hub_name, sign_access_token
from bridge.signalr.transport import TransportKind

from .connection import ServerConnection
from .messages import ServiceMessage, to_service_message
from .settings import PersistentSettings

HealthCallback = Callable[[bool, str], None]
CLOSE_GRACE_SECONDS = 5.0


class _Pool:
    """The server connections of one hub."""

    def __init__(self, connections: list[ServerConnection]) -> None:
        self.connections = connections
        self._round_robin = itertools.cycle(connections)

    def pick(self, key: Hashable | None) -> ServerConnection:
        if key is None:
            return next(self._round_robin)
        return self.connections[hash(key) % len(self.connections)]


class PersistentTransport:
    kind: TransportKind = "persistent"
    manages_health = True

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        hub: str,
        application: str | None,
        settings: PersistentSettings,
        tokens: RestTokenProvider,
        observer: DeliveryObserver,
        on_health: HealthCallback,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        conn = endpoint.connection
        base = conn.rest_base  # ServerEndpoint when set, else Endpoint (+ Port)
        self._ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
        self._conn = conn
        self._hub = hub
        self._application = application
        self._settings = settings
        self._tokens = tokens
        self._observer = observer
        self._on_health = on_health
        self._session: aiohttp.ClientSession | None = None
        self._pools: OrderedDict[str, _Pool] = OrderedDict()
        self._up: set[ServerConnection] = set()
        self._unconfirmed = 0
        self._last_failure = Verdict(Outcome.RETRY, "connecting")
        self._closing: list[asyncio.Task[None]] = []
        self._settled = asyncio.Event()  # every connection of the first pool connected or failed once

    # --- Transport -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the default hub's connections and wait until each has connected or failed once."""
        self._session = aiohttp.ClientSession()
        self._pool(client_hub_name(self._hub, self._application))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), self._settings.handshake_timeout + 1)

    def prepare(self, action: Action) -> ServiceMessage:
        return to_service_message(
            action,
            hub=self._hub,
            application=self._application,
            messagepack=self._settings.messagepack,
            max_bytes=self._settings.max_message_bytes,
        )

    async def attempt(self, prepared: ServiceMessage, *, key: Hashable | None, remaining: float) -> Verdict:
        connection = self._pool(prepared.hub).pick(key)
        if prepared.data is not None:
            future = connection.submit(prepared.data, within=remaining)
        else:
            assert prepared.acked is not None
            future = connection.submit_acked(prepared.acked, within=remaining)
        return await future

    async def probe(self) -> Verdict:
        return DELIVERED if self._up else self._last_failure

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        await asyncio.gather(
            *(c.close(CLOSE_GRACE_SECONDS) for pool in pools for c in pool.connections), *self._closing
        )
        if self._session is not None:
            await self._session.close()

    # --- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        """For status pages: connections up, hubs open, sends not yet confirmed."""
        return {"connections_up": len(self._up), "hubs": list(self._pools), "unconfirmed": self._unconfirmed}

    # --- pools ---------------------------------------------------------------------------------

    def _pool(self, hub: str) -> _Pool:
        pool = self._pools.get(hub)
        if pool is not None:
            self._pools.move_to_end(hub)
            return pool
        assert self._session is not None, "start() first"
        url = f"{self._ws_base}/server/?hub={quote(hub, safe='')}"
        audience = f"{self._conn.audience_base}server/?hub={hub}"
        connections = [
            ServerConnection(
                url=url,
                hub=hub,
                authorization=lambda: self._authorization(audience),
                session=self._session,
                settings=self._settings,
                events=self,
                index=index,
            )
            for index in range(self._settings.connections)
        ]
        pool = self._pools[hub] = _Pool(connections)
        for connection in connections:
            connection.start()
        while len(self._pools) > self._settings.max_hubs:
            _, evicted = self._pools.popitem(last=False)
            closing = [c.close(CLOSE_GRACE_SECONDS) for c in evicted.connections]
            self._closing.append(asyncio.create_task(_gather(closing)))
        return pool

    async def _authorization(self, audience: str) -> str:
        """A fresh token for every dial: AccessKey-signed with the server id, or the Entra token."""
        key = self._conn.access_key
        if key is None:
            return await self._tokens.authorization(audience)
        claims = {"nameid": self._settings.server_id}
        return f"Bearer {sign_access_token(key, audience, claims=claims)}"

    # --- ConnectionEvents ------------------------------------------------------------------------

    def _settle(self) -> None:
        first = next(iter(self._pools.values()), None)
        if first is not None and all(
            c.ever_connected or c.last_failure is not None for c in first.connections
        ):
            self._settled.set()

    def on_up(self, connection: ServerConnection) -> None:
        self._settle()
        reconnected = connection in self._up or connection.last_failure is not None
        was_down = not self._up
        self._up.add(connection)
        self._observer.on_server_connections(self.name, len(self._up), reconnected)
        if was_down:
            self._on_health(True, "server connection established")

    def on_down(self, connection: ServerConnection, verdict: Verdict, detail: str) -> None:
        self._last_failure = verdict
        self._settle()
        if connection in self._up:
            self._up.discard(connection)
            self._observer.on_server_connections(self.name, len(self._up), False)
        if not self._up:
            self._on_health(False, f"server connection to hub {connection.hub!r} failed: {detail}")

    def on_frame(self, messages: int) -> None:
        self._observer.on_frame(self.name, messages)

    def on_confirmed(self, count: int, seconds: float) -> None:
        self._unconfirmed -= count
        self._observer.on_barrier(self.name, seconds, count)
        self._observer.on_unconfirmed(self.name, self._unconfirmed)

    def on_unconfirmed(self, delta: int) -> None:
        self._unconfirmed += delta
        self._observer.on_unconfirmed(self.name, self._unconfirmed)


async def _gather(closing: list[Coroutine[Any, Any, None]]) -> None:
    await asyncio.gather(*closing)
