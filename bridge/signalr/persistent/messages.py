"""Actions as service messages (pure): what the persistent transport writes for each action.

Sends become data messages confirmed by a barrier; group actions the ``...WithAck`` messages the
Management SDK uses, answered by their own ``Ack``; closing a connection is ``CloseConnection``
(the SDK's choice too: its acked variant is obsolete), confirmed by a barrier. Names are checked
as for REST, so a bad name fails pre-flight whichever transport carries it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.signalr.actions import (
    Action,
    AddConnectionToGroup,
    AddUserToGroup,
    CloseConnection,
    RemoveConnectionFromAllGroups,
    RemoveConnectionFromGroup,
    RemoveUserFromAllGroups,
    RemoveUserFromGroup,
    SendToAll,
    SendToConnection,
    SendToGroup,
    SendToUser,
)
from bridge.signalr.errors import PreflightError
from bridge.signalr.names import check_connection_id, check_group, check_target, check_user
from bridge.signalr.tokens import client_hub_name

from . import protocol


@dataclass(frozen=True, slots=True)
class ServiceMessage:
    operation: str
    hub: str
    """The hub as server connections name it: lower-cased, ``{application}_{hub}`` when prefixed."""
    data: bytes | None = None
    """A framed message confirmed by a barrier (sends, close)..."""
    acked: protocol.AckedMessage | None = None
    """... or one answered by its own Ack (group actions)."""


def to_service_message(
    action: Action, *, hub: str, application: str | None, messagepack: bool, max_bytes: int
) -> ServiceMessage:
    name = client_hub_name(action.hub or hub, application)
    message: ServiceMessage
    match action:
        case SendToAll() | SendToUser() | SendToGroup() | SendToConnection():
            message = _send(action, name, messagepack)
        case AddUserToGroup():
            if action.ttl is not None and not 0 <= action.ttl <= 2**31 - 1:
                raise PreflightError(f"ttl {action.ttl} must be 0..2147483647 seconds")
            acked = protocol.user_join_group_with_ack(
                check_user(action.user_id), check_group(action.group), action.ttl
            )
            message = ServiceMessage("add_user_to_group", name, acked=acked)
        case RemoveUserFromGroup():
            acked = protocol.user_leave_group_with_ack(check_user(action.user_id), check_group(action.group))
            message = ServiceMessage("remove_user_from_group", name, acked=acked)
        case RemoveUserFromAllGroups():
            acked = protocol.user_leave_group_with_ack(check_user(action.user_id), None)
            message = ServiceMessage("remove_user_from_all_groups", name, acked=acked)
        case AddConnectionToGroup():
            acked = protocol.join_group_with_ack(
                check_connection_id(action.connection_id), check_group(action.group)
            )
            message = ServiceMessage("add_connection_to_group", name, acked=acked)
        case RemoveConnectionFromGroup():
            connection, group = check_connection_id(action.connection_id), check_group(action.group)
            message = ServiceMessage(
                "remove_connection_from_group", name, acked=protocol.leave_group_with_ack(connection, group)
            )
        case RemoveConnectionFromAllGroups():
            acked = protocol.leave_group_with_ack(check_connection_id(action.connection_id), None)
            message = ServiceMessage("remove_connection_from_all_groups", name, acked=acked)
        case CloseConnection():
            data = protocol.close_connection(check_connection_id(action.connection_id), action.reason)
            message = ServiceMessage("close_connection", name, data=data)
    if message.data is not None and len(message.data) > max_bytes:
        raise PreflightError(
            f"{message.operation}: the service message is {len(message.data)} bytes, the limit is {max_bytes}"
        )
    return message


def _send(
    action: SendToAll | SendToUser | SendToGroup | SendToConnection, hub: str, messagepack: bool
) -> ServiceMessage:
    payloads = protocol.payloads(check_target(action.target), action.arguments, messagepack=messagepack)
    match action:
        case SendToAll():
            excluded = [check_connection_id(c, what="excluded connection id") for c in action.excluded]
            return ServiceMessage("send_to_all", hub, data=protocol.broadcast(payloads, excluded))
        case SendToUser():
            return ServiceMessage(
                "send_to_user", hub, data=protocol.user_data(check_user(action.user_id), payloads)
            )
        case SendToGroup():
            excluded = [check_connection_id(c, what="excluded connection id") for c in action.excluded]
            data = protocol.group_broadcast(check_group(action.group), payloads, excluded)
            return ServiceMessage("send_to_group", hub, data=data)
        case SendToConnection():
            data = protocol.multi_connection_data([check_connection_id(action.connection_id)], payloads)
            return ServiceMessage("send_to_connection", hub, data=data)
