"""In-memory state of the emulated service: client connections, groups, user groups.

Group membership of a connection is the union of the groups it joined itself
(connection APIs, ``ttl=0`` user adds) and the live user-group memberships of its user,
so a user added to a group reaches connections that open later, until the TTL ends.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.emulator import hub_protocols
from bridge.emulator.hub_protocols import Frame

# Omitted ttl: membership lives at most one year, and a user keeps only the 100 most
# recently updated no-TTL groups (swagger 2022-06-01+).
DEFAULT_MEMBERSHIP_SECONDS = 365 * 24 * 3600
MAX_GROUPS_WITHOUT_TTL = 100
MESSAGE_LOG_LIMIT = 100_000


@dataclass
class ClientConnection:
    id: str
    hub: str
    user_id: str | None
    groups: set[str] = field(default_factory=set)
    protocol: str = hub_protocols.JSON
    # Frames to write, in order (text for JSON, binary for MessagePack); None closes the socket.
    outbox: asyncio.Queue[Frame | None] = field(default_factory=asyncio.Queue)
    connected_at: float = field(default_factory=time.time)
    # Client results (:invoke): invocationId -> the Completion the client will send.
    pending_results: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    # For upstream calls: the token's claims and the connect request's query; why it closed.
    claims: tuple[tuple[str, str], ...] = ()
    query: str = ""
    close_error: str | None = None

    def complete(self, message: dict[str, Any]) -> None:
        future = self.pending_results.pop(str(message.get("invocationId")), None)
        if future is not None and not future.done():
            future.set_result(message)

    def abandon_results(self) -> None:
        for future in self.pending_results.values():
            if not future.done():
                future.set_exception(ConnectionError("the connection closed before it answered"))
        self.pending_results.clear()

    def deliver(self, frame: Frame) -> None:
        self.outbox.put_nowait(frame)

    def close(self, error: str | None, *, allow_reconnect: bool) -> None:
        self.close_error = self.close_error or error
        self.outbox.put_nowait(hub_protocols.close(self.protocol, error, allow_reconnect=allow_reconnect))
        self.outbox.put_nowait(None)


@dataclass
class _Membership:
    expires_at: float
    has_ttl: bool


class ServiceState:
    def __init__(self, *, record_messages: bool) -> None:
        self._connections: dict[str, ClientConnection] = {}
        # hub -> user -> group -> membership, insertion order = least recently updated first
        self._user_groups: dict[str, dict[str, dict[str, _Membership]]] = {}
        self._record = record_messages
        self.messages: deque[dict[str, Any]] = deque(maxlen=MESSAGE_LOG_LIMIT)
        self.requests: Counter[str] = Counter()
        self.upstream_calls: Counter[str] = Counter()  # by upstream answer status, plus "retried"
        self._invocation_ids = itertools.count(1)

    # connections -------------------------------------------------------------------
    def add_connection(self, connection: ClientConnection) -> None:
        self._connections[connection.id] = connection

    def remove_connection(self, connection_id: str) -> ClientConnection | None:
        return self._connections.pop(connection_id, None)

    def connection(self, hub: str, connection_id: str) -> ClientConnection | None:
        found = self._connections.get(connection_id)
        return found if found is not None and found.hub == hub else None

    def connections(self, hub: str | None = None) -> list[ClientConnection]:
        return [c for c in self._connections.values() if hub is None or c.hub == hub]

    def connections_of_user(self, hub: str, user: str) -> list[ClientConnection]:
        return [c for c in self.connections(hub) if c.user_id == user]

    def connections_in_group(self, hub: str, group: str) -> list[ClientConnection]:
        return [c for c in self.connections(hub) if group in self.groups_of(c)]

    def groups_of(self, connection: ClientConnection) -> set[str]:
        groups = set(connection.groups)
        if connection.user_id is not None:
            groups.update(self._live_user_groups(connection.hub, connection.user_id))
        return groups

    # user groups -------------------------------------------------------------------
    def add_user_to_group(self, hub: str, user: str, group: str, ttl: int | None) -> None:
        if ttl == 0:
            # ttl=0: only the connections the user has now join; later ones do not.
            for connection in self.connections_of_user(hub, user):
                connection.groups.add(group)
            return
        memberships = self._user_groups.setdefault(hub, {}).setdefault(user, {})
        memberships.pop(group, None)
        seconds = DEFAULT_MEMBERSHIP_SECONDS if ttl is None else ttl
        memberships[group] = _Membership(time.time() + seconds, has_ttl=ttl is not None)
        if ttl is None:
            without_ttl = [g for g, m in memberships.items() if not m.has_ttl]
            for oldest in without_ttl[: max(0, len(without_ttl) - MAX_GROUPS_WITHOUT_TTL)]:
                del memberships[oldest]

    def remove_user_from_group(self, hub: str, user: str, group: str) -> None:
        self._user_groups.get(hub, {}).get(user, {}).pop(group, None)
        for connection in self.connections_of_user(hub, user):
            connection.groups.discard(group)

    def remove_user_from_all_groups(self, hub: str, user: str) -> None:
        self._user_groups.get(hub, {}).pop(user, None)
        for connection in self.connections_of_user(hub, user):
            connection.groups.clear()

    def user_in_group(self, hub: str, user: str, group: str) -> bool:
        if group in self._live_user_groups(hub, user):
            return True
        return any(group in c.groups for c in self.connections_of_user(hub, user))

    def _live_user_groups(self, hub: str, user: str) -> set[str]:
        memberships = self._user_groups.get(hub, {}).get(user, {})
        now = time.time()
        for group in [g for g, m in memberships.items() if m.expires_at <= now]:
            del memberships[group]
        return set(memberships)

    # delivery ----------------------------------------------------------------------
    def send(self, connections: Iterable[ClientConnection], target: str, arguments: list[Any]) -> int:
        """A REST send: translated into each client's protocol, as the service does."""
        frames: dict[str, Frame] = {}
        count = 0
        for connection in connections:
            frame = frames.get(connection.protocol)
            if frame is None:
                frame = frames[connection.protocol] = hub_protocols.invocation(
                    connection.protocol, target, arguments
                )
            connection.deliver(frame)
            self._log(connection, target, arguments)
            count += 1
        return count

    def send_payloads(self, connections: Iterable[ClientConnection], payloads: Mapping[str, bytes]) -> int:
        """A server-connection send: each client gets the payload of its protocol verbatim, or nothing."""
        described: dict[str, tuple[str | None, list[Any]]] = {}
        count = 0
        for connection in connections:
            payload = payloads.get(connection.protocol)
            if payload is None:
                continue  # the service delivers nothing to a client whose protocol has no entry
            if connection.protocol == hub_protocols.JSON:
                connection.deliver(payload.decode("utf-8", errors="replace"))
            else:
                connection.deliver(payload)
            if self._record:
                if connection.protocol not in described:
                    described[connection.protocol] = hub_protocols.describe(connection.protocol, payload)
                target, arguments = described[connection.protocol]
                self._log(connection, target, arguments)
            count += 1
        return count

    def invoke(
        self, connection: ClientConnection, target: str, arguments: list[Any]
    ) -> asyncio.Future[dict[str, Any]]:
        """Send a blocking Invocation; the future gets the client's Completion message."""
        invocation_id = str(next(self._invocation_ids))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        connection.pending_results[invocation_id] = future
        connection.deliver(hub_protocols.invocation(connection.protocol, target, arguments, invocation_id))
        self._log(connection, target, arguments)
        return future

    def _log(self, connection: ClientConnection, target: str | None, arguments: list[Any]) -> None:
        if self._record:
            self.messages.append(
                {
                    "hub": connection.hub,
                    "connectionId": connection.id,
                    "userId": connection.user_id,
                    "target": target,
                    "arguments": arguments,
                    "timestamp": time.time(),
                }
            )

    def close(self, connections: Iterable[ClientConnection], reason: str | None) -> None:
        for connection in list(connections):
            self.remove_connection(connection.id)
            connection.close(reason, allow_reconnect=True)

    # inspection --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        groups: dict[str, dict[str, list[str]]] = {}
        for connection in self._connections.values():
            for group in sorted(self.groups_of(connection)):
                groups.setdefault(connection.hub, {}).setdefault(group, []).append(connection.id)
        user_groups: dict[str, dict[str, dict[str, float]]] = {}
        for hub, users in self._user_groups.items():
            for user in list(users):
                live = self._live_user_groups(hub, user)
                if live:
                    user_groups.setdefault(hub, {})[user] = {
                        g: users[user][g].expires_at for g in sorted(live)
                    }
        return {
            "connections": [
                {
                    "id": c.id,
                    "hub": c.hub,
                    "userId": c.user_id,
                    "groups": sorted(self.groups_of(c)),
                    "connectedAt": c.connected_at,
                }
                for c in self._connections.values()
            ],
            "groups": groups,
            "userGroups": user_groups,
            "messages": list(self.messages),
            "requests": dict(sorted(self.requests.items())),
            "upstream": dict(sorted(self.upstream_calls.items())),
        }

    def reset_log(self) -> None:
        self.messages.clear()
        self.requests.clear()
        self.upstream_calls.clear()
