"""The service's upstream request, parsed (UPSTREAM.md §2), and the completions it expects back.

A request names its event in ``X-ASRS-*`` headers; the body is ``{"type":10}`` (connected),
``{"type":11,"error":...}`` (disconnected) or one hub-protocol Invocation without framing, in
JSON or MessagePack as the client speaks. Field names are read case-insensitively (the
Microsoft emulator writes ``Type``/``Error``). MessagePack values become JSON: binary as
base64 text, timestamps as ISO 8601 text.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

import msgpack
from multidict import MultiMapping

CONNECTION_ID: Final = "X-ASRS-Connection-Id"
HUB: Final = "X-ASRS-Hub"
CATEGORY: Final = "X-ASRS-Category"
EVENT: Final = "X-ASRS-Event"
USER_ID: Final = "X-ASRS-User-Id"
USER_CLAIMS: Final = "X-ASRS-User-Claims"
CLIENT_QUERY: Final = "X-ASRS-Client-Query"
SIGNATURE: Final = "X-ASRS-Signature"

JSON_TYPE: Final = "application/json"
MSGPACK_TYPE: Final = "application/x-msgpack"
RECORD_SEPARATOR: Final = b"\x1e"
# Query parameters never copied into Kafka: the client's token (a credential).
REDACTED_QUERY: Final = frozenset({"access_token"})

_INVOCATION, _COMPLETION, _OPEN, _CLOSE = 1, 3, 10, 11
_RESULT_KIND_ERROR, _RESULT_KIND_NON_VOID = 1, 3  # MessagePack Completion: 1 error, 2 void, 3 result


class Problem(StrEnum):
    """Why a request was refused; the receiver's metric label and HTTP status come from here."""

    BAD_REQUEST = "bad_request"  # 400: missing header, wrong body
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # 415


class UpstreamRequestError(ValueError):
    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


Protocol = Literal["json", "messagepack"]


@dataclass(frozen=True, slots=True)
class UpstreamEvent:
    hub: str
    category: str
    event: str
    connection_id: str
    user_id: str | None = None
    claims: tuple[tuple[str, str], ...] = ()
    query: Mapping[str, str] = field(default_factory=dict)
    protocol: Protocol | None = None  # messages only
    invocation_id: str | None = None  # set when the client called invoke() and waits
    arguments: tuple[Any, ...] = ()
    error: str | None = None  # disconnected only


def parse_event(headers: MultiMapping[str], body: bytes) -> UpstreamEvent:
    """The event of one upstream request (signature already checked)."""
    hub, category, event = (headers.get(name, "").strip() for name in (HUB, CATEGORY, EVENT))
    connection_id = headers.get(CONNECTION_ID, "")
    for name, value in ((HUB, hub), (CATEGORY, category), (EVENT, event), (CONNECTION_ID, connection_id)):
        if not value:
            raise UpstreamRequestError(Problem.BAD_REQUEST, f"header {name} is missing or empty")
    base = UpstreamEvent(
        hub=hub,
        category=category,
        event=event,
        connection_id=connection_id,
        user_id=headers.get(USER_ID) or None,
        claims=parse_claims(headers.getall(USER_CLAIMS, [])),
        query=parse_query(headers.get(CLIENT_QUERY, "")),
    )
    if category == "connections":
        return _connection_event(base, body)
    if category == "messages":
        return _invocation(base, _media_type(headers), body)
    raise UpstreamRequestError(Problem.BAD_REQUEST, f"unknown category {category[:40]!r}")


def parse_claims(values: list[str]) -> tuple[tuple[str, str], ...]:
    """``type: value`` pairs joined by ``, `` (as .NET writes a multi-value header), in order.

    Lossy where the service's format is: a value containing ``, `` is split (Functions
    parses it the same way). Duplicated types are kept, unlike Functions' first-wins map.
    """
    claims = []
    for value in values:
        for item in value.split(", "):
            kind, sep, text = item.partition(": ")
            if sep and kind.strip():
                claims.append((kind.strip(), text.strip()))
    return tuple(claims)


def parse_query(raw: str) -> dict[str, str]:
    """The client's connect query (``?a=b``) without its access token; a repeated name keeps the last."""
    pairs = parse_qsl(raw.removeprefix("?"), keep_blank_values=True)
    return {name: value for name, value in pairs if name not in REDACTED_QUERY}


def _media_type(headers: MultiMapping[str]) -> Protocol:
    media = headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if media == JSON_TYPE:
        return "json"
    if media == MSGPACK_TYPE:
        return "messagepack"
    raise UpstreamRequestError(
        Problem.UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be {JSON_TYPE} or {MSGPACK_TYPE}"
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise UpstreamRequestError(Problem.BAD_REQUEST, "the body is not JSON") from None
    if not isinstance(value, dict):
        raise UpstreamRequestError(Problem.BAD_REQUEST, "the body is not a JSON object")
    return {str(key).lower(): item for key, item in value.items()}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _connection_event(base: UpstreamEvent, body: bytes) -> UpstreamEvent:
    kinds = {"connected": _OPEN, "disconnected": _CLOSE}
    if base.event not in kinds:
        raise UpstreamRequestError(Problem.BAD_REQUEST, f"unknown connection event {base.event[:40]!r}")
    message = _json_object(body) if body.strip() else {"type": kinds[base.event]}
    if message.get("type") != kinds[base.event]:
        raise UpstreamRequestError(
            Problem.BAD_REQUEST, f"{base.event} needs a body of type {kinds[base.event]}"
        )
    error = message.get("error")
    return replace(base, error=error if isinstance(error, str) and error else None)


def _invocation(base: UpstreamEvent, protocol: Protocol, body: bytes) -> UpstreamEvent:
    if protocol == "json":
        message = _json_object(body)
        kind, invocation_id = message.get("type"), message.get("invocationid")
        target, arguments = message.get("target"), message.get("arguments", [])
    else:
        kind, invocation_id, target, arguments = _msgpack_invocation(body)
    if kind != _INVOCATION:
        raise UpstreamRequestError(Problem.BAD_REQUEST, "the body is not an Invocation message (type 1)")
    if not isinstance(target, str) or not target:
        raise UpstreamRequestError(Problem.BAD_REQUEST, "the Invocation has no target")
    if target.lower() != base.event.lower():
        raise UpstreamRequestError(
            Problem.BAD_REQUEST, f"header {EVENT} does not match the Invocation target"
        )
    if not isinstance(arguments, list):
        raise UpstreamRequestError(Problem.BAD_REQUEST, "the Invocation's arguments are not a list")
    if invocation_id is not None and not isinstance(invocation_id, str):
        raise UpstreamRequestError(Problem.BAD_REQUEST, "the Invocation's invocationId is not text")
    return replace(base, protocol=protocol, invocation_id=invocation_id, arguments=tuple(arguments))


def _msgpack_invocation(body: bytes) -> tuple[Any, Any, Any, Any]:
    """``[1, headers, invocationId, target, arguments, streamIds?]``; a length prefix is tolerated."""
    try:
        message = msgpack.unpackb(_without_length_prefix(body), raw=False, strict_map_key=False, timestamp=3)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, RecursionError):
        raise UpstreamRequestError(Problem.BAD_REQUEST, "the body is not one MessagePack message") from None
    if not isinstance(message, list) or len(message) < 5:
        raise UpstreamRequestError(Problem.BAD_REQUEST, "the body is not a MessagePack Invocation array")
    arguments = message[4]
    return message[0], message[2], message[3], to_json(arguments) if isinstance(arguments, list) else None


def _without_length_prefix(body: bytes) -> bytes:
    # The service strips the varint length prefix of the binary framing (UPSTREAM.md §2.2); a body
    # that does not start with an array header but whose varint prefix covers exactly the rest is
    # the framed form, so accept it too.
    if not body or 0x90 <= body[0] <= 0x9F or body[0] in (0xDC, 0xDD):
        return body
    length, shift, index = 0, 0, 0
    while index < min(len(body), 5):
        byte = body[index]
        length |= (byte & 0x7F) << shift
        index += 1
        if not byte & 0x80:
            return body[index:] if length == len(body) - index else body
        shift += 7
    return body


def to_json(value: Any) -> Any:
    """A MessagePack value as JSON: bytes as base64 text, timestamps as ISO 8601, keys as text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float) and not math.isfinite(value):
        raise UpstreamRequestError(
            Problem.BAD_REQUEST, f"the arguments hold {value}, which JSON cannot carry"
        )
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {_key(key): to_json(item) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise UpstreamRequestError(
        Problem.BAD_REQUEST, f"the arguments hold a MessagePack {type(value).__name__}"
    )


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise UpstreamRequestError(Problem.BAD_REQUEST, "a MessagePack map key is neither text nor a number")


def completion(
    protocol: Protocol, invocation_id: str, *, result: Any = None, error: str | None = None
) -> bytes:
    """A framed Completion (``result``, or ``error`` when given) in the client's protocol: the service
    writes the body to the client as it is (UPSTREAM.md §2.3)."""
    if protocol == "json":
        message: dict[str, Any] = {"type": _COMPLETION, "invocationId": invocation_id}
        if error is not None:
            message["error"] = error
        else:
            message["result"] = result
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + RECORD_SEPARATOR
    kind, value = (_RESULT_KIND_ERROR, error) if error is not None else (_RESULT_KIND_NON_VOID, result)
    payload: bytes = msgpack.packb([_COMPLETION, {}, invocation_id, kind, value])
    return _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
