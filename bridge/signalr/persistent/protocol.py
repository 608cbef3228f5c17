"""The service protocol of server connections, sender side (SERVICE-PROTOCOL.md §1-§2, §7): pure code.

A server connection carries a byte stream of frames ``varint length ‖ MessagePack array``; element 0
is the message type. This module writes what a sender sends (handshake, data messages, group
messages with and without ack, close, ping) exactly as the .NET ``ServiceProtocol`` writer does,
and reads what the service sends back (handshake response, ack, ping, error, event, flow control).
The emulator keeps its own codec (``bridge.emulator.service_protocol``); both are checked against
the byte vectors in ``tests/vectors/service_protocol.json``.

Payloads of data messages are complete client hub-protocol messages, one per protocol the hub's
clients may use: ``json`` (an Invocation ended by 0x1E) always, ``messagepack`` (a varint-prefixed
Invocation array) when configured. The service forwards them verbatim and translates nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

import msgpack

from bridge.signalr.errors import PreflightError

PROTOCOL_VERSION: Final = 1
WEAK_CONNECTION: Final = 2
"""``ServiceConnectionType.Weak``: carries no clients but may send (what the Management SDK opens)."""
MAX_FRAME_BODY: Final = 2**31 - 1
RECORD_SEPARATOR: Final = b"\x1e"
JSON: Final = "json"
MESSAGEPACK: Final = "messagepack"
EXT_TTL: Final = 2


class MessageType(IntEnum):
    HANDSHAKE_REQUEST = 1
    HANDSHAKE_RESPONSE = 2
    PING = 3
    CLOSE_CONNECTION = 5
    MULTI_CONNECTION_DATA = 7
    USER_DATA = 8
    MULTI_USER_DATA = 9
    BROADCAST_DATA = 10
    JOIN_GROUP = 11
    LEAVE_GROUP = 12
    GROUP_BROADCAST_DATA = 13
    MULTI_GROUP_BROADCAST_DATA = 14
    SERVICE_ERROR = 15
    USER_JOIN_GROUP = 16
    USER_LEAVE_GROUP = 17
    JOIN_GROUP_WITH_ACK = 18
    LEAVE_GROUP_WITH_ACK = 19
    ACK = 20
    CHECK_USER_IN_GROUP_WITH_ACK = 21
    SERVICE_EVENT = 22
    CHECK_GROUP_EXISTENCE_WITH_ACK = 23
    CHECK_CONNECTION_EXISTENCE_WITH_ACK = 24
    CHECK_USER_EXISTENCE_WITH_ACK = 25
    USER_JOIN_GROUP_WITH_ACK = 26
    USER_LEAVE_GROUP_WITH_ACK = 27
    ACCESS_KEY_RESPONSE = 29
    CONNECTION_FLOW_CONTROL = 39


class AckStatus(IntEnum):
    OK = 1
    NOT_FOUND = 2
    TIMEOUT = 3
    INTERNAL_SERVER_ERROR = 4


class FlowControl(IntEnum):
    """``ConnectionFlowControlOperation``; the connection type Server is 2 (the spec text says 1)."""

    PAUSE = 1
    PAUSE_ACK = 2
    RESUME = 3
    OFFLINE = 4


SERVER_CONNECTION_TYPE: Final = 2
_packer = msgpack.Packer(use_bin_type=True, autoreset=True)


class ProtocolError(ValueError):
    """The service sent bytes that are not the service protocol."""


# --- framing -------------------------------------------------------------------------------------


def varint(length: int) -> bytes:
    """Little-endian base-128 length prefix (``BinaryMessageFormatter.WriteLengthPrefix``)."""
    out = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def frame(body: bytes) -> bytes:
    return varint(len(body)) + body


def pack(message: Sequence[Any]) -> bytes:
    """One framed service message."""
    return frame(_packer.pack(message))


class FrameReader:
    """Splits the inbound byte stream into messages; frames may span or share WebSocket messages."""

    def __init__(self, max_body: int = 16 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._max = max_body

    def feed(self, data: bytes) -> list[list[Any]]:
        self._buffer += data
        messages: list[list[Any]] = []
        buffer = self._buffer
        start = 0
        while True:
            length, shift, index = 0, 0, start
            while True:
                if index >= len(buffer):
                    del buffer[:start]
                    return messages
                byte = buffer[index]
                index += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
                if shift >= 35:
                    raise ProtocolError("length prefix longer than 5 bytes")
            if length > self._max:
                raise ProtocolError(f"message of {length} bytes is over the {self._max} byte limit")
            if index + length > len(buffer):
                del buffer[:start]
                return messages
            try:
                message = msgpack.unpackb(
                    bytes(buffer[index : index + length]), raw=False, strict_map_key=False
                )
            except (ValueError, msgpack.UnpackException) as exc:
                raise ProtocolError(f"not MessagePack: {exc}") from None
            if not isinstance(message, list) or not message or not isinstance(message[0], int):
                raise ProtocolError("a service message must be an array starting with its type")
            messages.append(message)
            start = index + length


# --- sender -> service -----------------------------------------------------------------------------


def handshake_request() -> bytes:
    """``[1, Version, Weak, "", MigrationLevel Off, {}]``: the 6-element form every SDK up to 2024 sent."""
    return pack([MessageType.HANDSHAKE_REQUEST, PROTOCOL_VERSION, WEAK_CONNECTION, "", 0, {}])


PING: Final = pack([MessageType.PING])


def ping(*values: str) -> bytes:
    return pack([MessageType.PING, *values])


def _ext(ttl: int | None = None) -> dict[int, Any]:
    return {} if ttl is None else {EXT_TTL: ttl}


def broadcast(payloads: dict[str, bytes], excluded: Sequence[str] = ()) -> bytes:
    return pack([MessageType.BROADCAST_DATA, list(excluded), payloads, {}])


def user_data(user_id: str, payloads: dict[str, bytes]) -> bytes:
    return pack([MessageType.USER_DATA, user_id, payloads, {}])


def multi_connection_data(connection_ids: Sequence[str], payloads: dict[str, bytes]) -> bytes:
    return pack([MessageType.MULTI_CONNECTION_DATA, list(connection_ids), payloads, {}])


def group_broadcast(group: str, payloads: dict[str, bytes], excluded: Sequence[str] = ()) -> bytes:
    """The 7-element form: excluded users ``[]`` and caller user ``nil`` follow the ext map."""
    return pack([MessageType.GROUP_BROADCAST_DATA, group, list(excluded), payloads, {}, [], None])


def close_connection(connection_id: str, reason: str | None = None) -> bytes:
    """``[5, ConnectionId, Reason, Headers {}, Ext]``; the .NET writer puts ``""`` for no reason."""
    return pack([MessageType.CLOSE_CONNECTION, connection_id, reason or "", {}, {}])


@dataclass(frozen=True, slots=True)
class AckedMessage:
    """A message answered by an ``Ack``; the AckId is chosen when it is written (``encode``)."""

    fields: tuple[Any, ...]
    """The array with ``None`` where the AckId goes (always the element before the ext map)."""
    ack_index: int
    not_found_is_benign: bool
    """``NotFound`` means the desired state already holds (a removal), not a failure."""

    def encode(self, ack_id: int) -> bytes:
        message = list(self.fields)
        message[self.ack_index] = ack_id
        return pack(message)


def join_group_with_ack(connection_id: str, group: str) -> AckedMessage:
    return AckedMessage((MessageType.JOIN_GROUP_WITH_ACK, connection_id, group, 0, {}), 3, False)


def leave_group_with_ack(connection_id: str, group: str | None) -> AckedMessage:
    """``group=None`` leaves every group."""
    return AckedMessage((MessageType.LEAVE_GROUP_WITH_ACK, connection_id, group, 0, {}), 3, True)


def user_join_group_with_ack(user_id: str, group: str, ttl: int | None = None) -> AckedMessage:
    return AckedMessage((MessageType.USER_JOIN_GROUP_WITH_ACK, user_id, group, 0, _ext(ttl)), 3, False)


def user_leave_group_with_ack(user_id: str, group: str | None) -> AckedMessage:
    """``group=None`` removes the user from every group."""
    return AckedMessage((MessageType.USER_LEAVE_GROUP_WITH_ACK, user_id, group, 0, {}), 3, True)


def check_connection_existence_with_ack(connection_id: str) -> AckedMessage:
    """The barrier: answered NotFound for an id no client has, after everything written before it."""
    return AckedMessage((MessageType.CHECK_CONNECTION_EXISTENCE_WITH_ACK, connection_id, 0, {}), 2, True)


# --- hub-protocol payloads -----------------------------------------------------------------------


def json_invocation(target: str, arguments: Sequence[Any]) -> bytes:
    """A non-blocking Invocation in the JSON hub protocol, record separator included."""
    try:
        text = json.dumps(
            {"type": 1, "target": target, "arguments": list(arguments)},
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise PreflightError(f"message arguments are not JSON: {exc}") from None
    return text.encode("utf-8") + RECORD_SEPARATOR


def messagepack_invocation(target: str, arguments: Sequence[Any]) -> bytes:
    """``[1, Headers {}, InvocationId nil, Target, Arguments, StreamIds []]`` with its varint prefix."""
    try:
        return frame(_packer.pack([1, {}, None, target, list(arguments), []]))
    except (TypeError, ValueError, OverflowError) as exc:
        raise PreflightError(f"message arguments cannot be written as MessagePack: {exc}") from None


def payloads(target: str, arguments: Sequence[Any], *, messagepack: bool) -> dict[str, bytes]:
    """Each invocation serialized once per hub protocol the hub's clients may use."""
    encoded = {JSON: json_invocation(target, arguments)}
    if messagepack:
        encoded[MESSAGEPACK] = messagepack_invocation(target, arguments)
    return encoded


# --- service -> sender ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandshakeResponse:
    error: str | None
    connection_id: str | None


@dataclass(frozen=True, slots=True)
class Ack:
    ack_id: int
    status: int
    message: str | None


@dataclass(frozen=True, slots=True)
class Ping:
    values: tuple[str, ...]

    def get(self, key: str) -> str | None:
        """Keyed pings are flat ``[3, k1, v1, k2, v2, ...]`` lists (``RuntimeServicePingMessage``)."""
        for index in range(0, len(self.values) - 1, 2):
            if self.values[index] == key:
                return self.values[index + 1]
        return None


@dataclass(frozen=True, slots=True)
class ServiceError:
    message: str | None


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    object_type: int
    id: str | None
    kind: int
    message: str | None


@dataclass(frozen=True, slots=True)
class ConnectionFlowControl:
    connection_id: str | None
    connection_type: int
    operation: int


Inbound = HandshakeResponse | Ack | Ping | ServiceError | ServiceEvent | ConnectionFlowControl


def parse(message: list[Any]) -> Inbound | None:
    """What a sender acts on; ``None`` for types it may ignore (future types included)."""
    kind, n = message[0], len(message)
    try:
        if kind == MessageType.ACK:
            return Ack(int(message[1]), int(message[2]), _text(message, 3))
        if kind == MessageType.PING:
            return Ping(tuple(str(v) for v in message[1:]))
        if kind == MessageType.HANDSHAKE_RESPONSE:
            return HandshakeResponse(_text(message, 1), _text(message, 3) if n >= 4 else None)
        if kind == MessageType.SERVICE_ERROR:
            return ServiceError(_text(message, 1))
        if kind == MessageType.SERVICE_EVENT:
            return ServiceEvent(int(message[1]), _text(message, 2), int(message[3]), _text(message, 4))
        if kind == MessageType.CONNECTION_FLOW_CONTROL:
            return ConnectionFlowControl(_text(message, 1), int(message[2]), int(message[3]))
    except (IndexError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed message of type {kind}: {exc}") from None
    return None


def _text(message: list[Any], index: int) -> str | None:
    value = message[index] if index < len(message) else None
    if value is None or isinstance(value, str):
        return value
    raise ProtocolError(f"element {index} of a type-{message[0]} message is not a string")
