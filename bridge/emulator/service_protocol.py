"""The service protocol of server connections, service side (SERVICE-PROTOCOL.md §2, §5).

Written apart from the bridge's codec (``bridge.signalr.persistent.protocol``) on purpose: the
emulator judges the sender, so a misunderstanding shared by both would go unnoticed. Both are
checked against the byte vectors in ``tests/vectors/service_protocol.json``.

A server connection carries a byte stream of frames ``VarInt(length) ‖ MessagePack array`` with
the message type first; one WebSocket message may hold several frames or part of one. Readers
accept extra trailing elements and ignore unknown types and unknown extension keys, as the
.NET reader does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgpack

VERSION: Final = 1
WEAK: Final = 2
MAX_MESSAGE_BYTES: Final = 1024 * 1024
"""The service's own limit is UNCONFIRMED; REST's body limit (1 MB) is the bound kept here."""

# Message types (ServiceProtocolConstants).
HANDSHAKE_REQUEST, HANDSHAKE_RESPONSE, PING, CLOSE_CONNECTION = 1, 2, 3, 5
MULTI_CONNECTION_DATA, USER_DATA, MULTI_USER_DATA, BROADCAST_DATA = 7, 8, 9, 10
JOIN_GROUP, LEAVE_GROUP, GROUP_BROADCAST_DATA, MULTI_GROUP_BROADCAST_DATA = 11, 12, 13, 14
SERVICE_ERROR, USER_JOIN_GROUP, USER_LEAVE_GROUP = 15, 16, 17
JOIN_GROUP_WITH_ACK, LEAVE_GROUP_WITH_ACK, ACK, CHECK_USER_IN_GROUP_WITH_ACK = 18, 19, 20, 21
CHECK_GROUP_EXISTENCE_WITH_ACK, CHECK_CONNECTION_EXISTENCE_WITH_ACK = 23, 24
CHECK_USER_EXISTENCE_WITH_ACK, USER_JOIN_GROUP_WITH_ACK, USER_LEAVE_GROUP_WITH_ACK = 25, 26, 27
CLOSE_CONNECTION_WITH_ACK, CLOSE_CONNECTIONS_WITH_ACK = 30, 31
CLOSE_USER_CONNECTIONS_WITH_ACK, CLOSE_GROUP_CONNECTIONS_WITH_ACK = 32, 33
CONNECTION_FLOW_CONTROL = 39

# AckStatus and the ConnectionFlowControl values the emulator sends.
ACK_OK, ACK_NOT_FOUND = 1, 2
FLOW_SERVER, FLOW_OFFLINE = 2, 4

EXT_TTL: Final = 2


class ServiceProtocolError(ValueError):
    """The server connection sent something that is not the service protocol."""


def length_prefix(size: int) -> bytes:
    prefix = bytearray()
    while size > 0x7F:
        prefix.append((size & 0x7F) | 0x80)
        size >>= 7
    prefix.append(size)
    return bytes(prefix)


def write(*elements: Any) -> bytes:
    body: bytes = msgpack.packb(list(elements), use_bin_type=True)
    return length_prefix(len(body)) + body


class StreamReader:
    """Accumulates inbound bytes and returns every complete message (as a list) in order."""

    def __init__(self, max_message: int = MAX_MESSAGE_BYTES) -> None:
        self._pending = b""
        self._max = max_message

    def feed(self, chunk: bytes) -> list[list[Any]]:
        data = self._pending + chunk
        messages: list[list[Any]] = []
        position = 0
        while position < len(data):
            size, offset = 0, position
            for shift in range(0, 35, 7):
                if offset >= len(data):
                    self._pending = data[position:]
                    return messages
                byte = data[offset]
                offset += 1
                size |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
            else:
                raise ServiceProtocolError("The length prefix is longer than 5 bytes.")
            if size > self._max:
                raise ServiceProtocolError(f"A message of {size} bytes exceeds the {self._max} byte limit.")
            if offset + size > len(data):
                self._pending = data[position:]
                return messages
            messages.append(_decode(data[offset : offset + size]))
            position = offset + size
        self._pending = b""
        return messages


def _decode(body: bytes) -> list[Any]:
    try:
        value = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ServiceProtocolError(f"The message is not MessagePack: {type(exc).__name__}.") from None
    if not isinstance(value, list) or not value or type(value[0]) is not int:
        raise ServiceProtocolError("A message must be an array whose first element is its type.")
    return value


@dataclass(frozen=True)
class Fields:
    """Typed access to one message's elements; a wrong type raises ServiceProtocolError."""

    message: list[Any]

    @property
    def type(self) -> int:
        return int(self.message[0])

    def _at(self, index: int) -> Any:
        if index >= len(self.message):
            raise ServiceProtocolError(f"Message type {self.type} has no element {index}.")
        return self.message[index]

    def text(self, index: int) -> str:
        value = self._at(index)
        if not isinstance(value, str):
            raise ServiceProtocolError(f"Element {index} of message type {self.type} must be a string.")
        return value

    def optional_text(self, index: int) -> str | None:
        value = self._at(index) if index < len(self.message) else None
        return None if value is None else self.text(index)

    def integer(self, index: int) -> int:
        value = self._at(index)
        if type(value) is not int:
            raise ServiceProtocolError(f"Element {index} of message type {self.type} must be an integer.")
        return value

    def texts(self, index: int) -> list[str]:
        value = self._at(index)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ServiceProtocolError(f"Element {index} of message type {self.type} must be a string array.")
        return value

    def payloads(self, index: int) -> dict[str, bytes]:
        """Protocol name (lower-cased: the service compares them case-insensitively) -> bytes."""
        value = self._at(index)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, bytes) for k, v in value.items()
        ):
            raise ServiceProtocolError(f"Element {index} of message type {self.type} must map names to bin.")
        return {k.lower(): v for k, v in value.items()}

    def ttl(self, index: int) -> int | None:
        """Extension key 2 (Ttl, seconds) of the map at ``index``, when present."""
        value = self._at(index) if index < len(self.message) else None
        if not isinstance(value, dict):
            return None
        ttl = value.get(EXT_TTL)
        return ttl if type(ttl) is int else None


def handshake_response(error: str, connection_id: str | None) -> bytes:
    return write(HANDSHAKE_RESPONSE, error, {}, connection_id)


def ack(ack_id: int, status: int, message: str = "") -> bytes:
    return write(ACK, ack_id, status, message, {})


def ping(*values: str) -> bytes:
    return write(PING, *values)


def service_error(message: str) -> bytes:
    return write(SERVICE_ERROR, message)


def offline(connection_id: str) -> bytes:
    return write(CONNECTION_FLOW_CONTROL, connection_id, FLOW_SERVER, FLOW_OFFLINE, {})
