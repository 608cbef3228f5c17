"""What the bridge asks SignalR Service to do: messages, group actions, closing connections.

Mirrors the Azure Functions SignalR output binding (``target``, ``arguments``,
``userId``, ``groupName``, ``connectionId``; group actions ``add``, ``remove``,
``removeAll``) and completes it with excluded connections, user-group TTLs and
closing connections. ``hub=None`` means the configured default hub.
These are plain values: building requests from them is the client's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class _Message:
    target: str
    arguments: tuple[Any, ...] = ()
    hub: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendToAll(_Message):
    excluded: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class SendToUser(_Message):
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SendToGroup(_Message):
    group: str
    excluded: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class SendToConnection(_Message):
    connection_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AddUserToGroup:
    user_id: str
    group: str
    ttl: int | None = None  # seconds; None = the service default (at most one year)
    hub: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveUserFromGroup:
    user_id: str
    group: str
    hub: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveUserFromAllGroups:
    user_id: str
    hub: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AddConnectionToGroup:
    connection_id: str
    group: str
    hub: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveConnectionFromGroup:
    connection_id: str
    group: str
    hub: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveConnectionFromAllGroups:
    connection_id: str
    hub: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseConnection:
    connection_id: str
    reason: str | None = None
    hub: str | None = None


Message = SendToAll | SendToUser | SendToGroup | SendToConnection
GroupAction = (
    AddUserToGroup
    | RemoveUserFromGroup
    | RemoveUserFromAllGroups
    | AddConnectionToGroup
    | RemoveConnectionFromGroup
    | RemoveConnectionFromAllGroups
)
Action = Message | GroupAction | CloseConnection
