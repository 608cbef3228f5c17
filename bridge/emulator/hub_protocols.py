"""The hub protocols clients negotiate: JSON (text frames) and MessagePack (binary frames).

JSON lives in :mod:`bridge.emulator.protocol`; this module adds MessagePack (HubProtocol.md:
each message ``VarInt(length) ‖ array``) and picks the right encoding per client. REST sends
are translated for MessagePack clients, as the service does; server-connection sends carry
one payload per protocol and are forwarded verbatim.
"""

from __future__ import annotations

from typing import Any, Final

import msgpack

from bridge.emulator import protocol
from bridge.emulator.service_protocol import StreamReader, length_prefix

JSON: Final = "json"
MESSAGEPACK: Final = "messagepack"
PROTOCOLS: Final = (JSON, MESSAGEPACK)

Frame = str | bytes


def _mp(*elements: Any) -> bytes:
    body: bytes = msgpack.packb(list(elements), use_bin_type=True)
    return length_prefix(len(body)) + body


def invocation(name: str, target: str, arguments: list[Any], invocation_id: str | None = None) -> Frame:
    if name == MESSAGEPACK:
        return _mp(protocol.MessageType.INVOCATION, {}, invocation_id, target, arguments, [])
    message = protocol.invocation(target, arguments)
    if invocation_id is not None:
        message["invocationId"] = invocation_id
    return protocol.encode(message)


def ping(name: str) -> Frame:
    return _mp(protocol.MessageType.PING) if name == MESSAGEPACK else protocol.encode(protocol.PING)


def close(name: str, error: str | None, *, allow_reconnect: bool) -> Frame:
    if name == MESSAGEPACK:
        return _mp(protocol.MessageType.CLOSE, error, allow_reconnect)
    return protocol.encode(protocol.close(error, allow_reconnect=allow_reconnect))


def translate_completion(name: str, frame: str) -> Frame:
    """An upstream's framed JSON Completion, written in the client's own protocol."""
    if name != MESSAGEPACK:
        return frame
    try:
        [message] = protocol.decode(frame)
    except (ValueError, protocol.ProtocolError):
        return frame
    invocation_id = message.get("invocationId")
    if "error" in message:
        return _mp(protocol.MessageType.COMPLETION, {}, invocation_id, 1, message["error"])
    if "result" in message:
        return _mp(protocol.MessageType.COMPLETION, {}, invocation_id, 3, message["result"])
    return _mp(protocol.MessageType.COMPLETION, {}, invocation_id, 2)


def decode_messagepack(data: bytes) -> list[dict[str, Any]]:
    """A MessagePack client's messages, shaped like their JSON equivalents."""
    try:
        arrays = StreamReader().feed(data)
    except ValueError as exc:
        raise protocol.ProtocolError(str(exc)) from None
    messages: list[dict[str, Any]] = []
    for array in arrays:
        kind = array[0]
        message: dict[str, Any] = {"type": kind}
        invoking = kind in (protocol.MessageType.INVOCATION, protocol.MessageType.STREAM_INVOCATION)
        if invoking and len(array) >= 5:
            message.update(invocationId=array[2], target=array[3], arguments=array[4])
        elif kind == protocol.MessageType.COMPLETION and len(array) >= 4:
            message["invocationId"] = array[2]
            if array[3] == 1:  # error result
                message["error"] = array[4] if len(array) > 4 else ""
            elif array[3] == 3:  # non-void result
                message["result"] = array[4] if len(array) > 4 else None
        messages.append(message)
    return messages


def describe(name: str, payload: bytes) -> tuple[str | None, list[Any]]:
    """(target, arguments) of a serialized invocation, for the message log; (None, []) if unreadable."""
    try:
        if name == MESSAGEPACK:
            [message] = decode_messagepack(payload)
        else:
            [message] = protocol.decode(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None, []
    target = message.get("target")
    arguments = message.get("arguments")
    return (target if isinstance(target, str) else None), (arguments if isinstance(arguments, list) else [])
