"""JSON hub protocol framing (SIGNALR.md §5): JSON records ended by 0x1E; the shared handshake."""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

RECORD_SEPARATOR = "\x1e"


class MessageType(IntEnum):
    INVOCATION = 1
    STREAM_ITEM = 2
    COMPLETION = 3
    STREAM_INVOCATION = 4
    CANCEL_INVOCATION = 5
    PING = 6
    CLOSE = 7
    ACK = 8
    SEQUENCE = 9


class ProtocolError(ValueError):
    """The client sent something that is not the JSON hub protocol."""


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False) + RECORD_SEPARATOR


def decode(frame: str) -> list[dict[str, Any]]:
    """Every record in one transport frame; a frame may carry several."""
    if not frame.endswith(RECORD_SEPARATOR):
        raise ProtocolError("Message is incomplete.")
    messages = []
    for record in frame.split(RECORD_SEPARATOR)[:-1]:
        try:
            message = json.loads(record)
        except json.JSONDecodeError as exc:
            raise ProtocolError("Message is not valid JSON.") from exc
        if not isinstance(message, dict):
            raise ProtocolError("Message is not a JSON object.")
        messages.append(message)
    return messages


HUB_PROTOCOLS = ("json", "messagepack")


def handshake_error(frame: str) -> tuple[str | None, str, str]:
    """Check the client's handshake; return (error or None, its protocol, frames that followed it)."""
    head, sep, rest = frame.partition(RECORD_SEPARATOR)
    if not sep:
        return "Handshake message is incomplete.", "", ""
    try:
        request = json.loads(head)
    except json.JSONDecodeError:
        return "Handshake request is not valid JSON.", "", rest
    if not isinstance(request, dict):
        return "Handshake request is not a JSON object.", "", rest
    protocol, version = request.get("protocol"), request.get("version")
    if protocol not in HUB_PROTOCOLS:
        return f"Requested protocol '{protocol}' is not available.", "", rest
    if version != 1:
        return f"The server does not support version {version} of the '{protocol}' protocol.", "", rest
    return None, str(protocol), rest


def invocation(target: str, arguments: list[Any]) -> dict[str, Any]:
    """A non-blocking Invocation, which is what a REST send becomes on the socket."""
    return {"type": MessageType.INVOCATION.value, "target": target, "arguments": arguments}


PING: dict[str, Any] = {"type": MessageType.PING.value}


def close(error: str | None, *, allow_reconnect: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"type": MessageType.CLOSE.value}
    if error:
        message["error"] = error
    if allow_reconnect:
        message["allowReconnect"] = True
    return message
