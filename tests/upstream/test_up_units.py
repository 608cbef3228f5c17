"""The upstream contract's pure pieces: signatures, request parsing, completions, the envelope."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from multidict import CIMultiDict

from bridge.upstream import protocol
from bridge.upstream.envelope import ENVELOPE_VERSION, build_envelope
from bridge.upstream.protocol import Problem, UpstreamRequestError, completion, parse_event
from bridge.upstream.signature import SignatureCheck, SignatureVerifier, sign

pytestmark = pytest.mark.unit

# The test vector of the Functions extension's SignalRTriggerResolverTests (UPSTREAM.md §3).
VECTOR_CONNECTION = "0f9c97a2f0bf4706afe87a14e0797b11"
VECTOR = {
    "7aab239577fd4f24bc919802fb629f5f": "sha256="
    "7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab561",
    "a5f2815d0d0c4b00bd27e832432f91ab": "sha256="
    "d4aefb65547a00a9881fa8ac8bd03d0faf77af9da5205d45c6e57cbda4377760",
}


def headers(category: str = "messages", event: str = "send", **extra: str) -> CIMultiDict[str]:
    values = CIMultiDict(
        {
            "X-ASRS-Connection-Id": "conn-1",
            "X-ASRS-Hub": "chat",
            "X-ASRS-Category": category,
            "X-ASRS-Event": event,
            "Content-Type": "application/json",
        }
    )
    values.update(extra)
    return values


def test_signature_matches_the_functions_test_vector() -> None:
    for key, expected in VECTOR.items():
        assert sign(key, VECTOR_CONNECTION) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (VECTOR["a5f2815d0d0c4b00bd27e832432f91ab"], SignatureCheck.OK),
        # the service's two-key form, ours second; hex in upper case as the Microsoft emulator writes it
        (
            "sha256=00ff," + VECTOR["7aab239577fd4f24bc919802fb629f5f"].upper().replace("SHA256", "sha256"),
            SignatureCheck.OK,
        ),
        (None, SignatureCheck.MISSING),
        ("  ", SignatureCheck.MISSING),
        ("sha256=" + "0" * 64, SignatureCheck.MISMATCH),
        (VECTOR["7aab239577fd4f24bc919802fb629f5f"].replace("sha256=", ""), SignatureCheck.MISMATCH),
    ],
)
def test_any_configured_key_may_sign(header: str | None, expected: SignatureCheck) -> None:
    verifier = SignatureVerifier(VECTOR)
    assert verifier.check(header, VECTOR_CONNECTION) is expected


def test_a_signature_is_bound_to_its_connection_id() -> None:
    verifier = SignatureVerifier(["key"])
    assert verifier.check(sign("key", "conn-a"), "conn-b") is SignatureCheck.MISMATCH
    assert verifier.check(sign("other-key", "conn-a"), "conn-a") is SignatureCheck.MISMATCH


def test_connection_events_and_their_bodies() -> None:
    connected = parse_event(
        headers(
            "connections",
            "connected",
            **{"X-ASRS-User-Id": "ann", "X-ASRS-Client-Query": "?hub=chat&room=42&access_token=secret"},
        ),
        b'{"type":10}',
    )
    assert (connected.category, connected.event, connected.user_id) == ("connections", "connected", "ann")
    assert connected.query == {"hub": "chat", "room": "42"}  # the client's token never travels on
    # The Microsoft emulator writes the disconnect body by hand in PascalCase.
    disconnected = parse_event(headers("connections", "disconnected"), b'{"Type":11,"Error":"gone"}')
    assert disconnected.error == "gone"
    assert parse_event(headers("connections", "disconnected"), b'{"type":11,"error":""}').error is None
    with pytest.raises(UpstreamRequestError):
        parse_event(headers("connections", "disconnected"), b'{"type":10}')


def test_claims_header_keeps_order_and_duplicates() -> None:
    values = headers(**{"X-ASRS-User-Claims": "role: admin, role: ops"})
    values.add("X-ASRS-User-Claims", "name: Ann: the first")
    event = parse_event(values, b'{"type":1,"target":"send","arguments":[]}')
    assert event.claims == (("role", "admin"), ("role", "ops"), ("name", "Ann: the first"))


def test_json_invocation_names_are_case_insensitive() -> None:
    event = parse_event(
        headers(event="Send"), b'{"Type":1,"InvocationId":"7","Target":"send","Arguments":[1,{"a":null}]}'
    )
    assert (event.protocol, event.invocation_id, event.arguments) == ("json", "7", (1, {"a": None}))
    assert parse_event(headers(), b'{"type":1,"target":"send"}').arguments == ()


def msgpack_invocation(*fields: Any, prefix: bool = False) -> bytes:
    payload: bytes = msgpack.packb(list(fields), use_bin_type=True, datetime=True)
    return (protocol._varint(len(payload)) if prefix else b"") + payload


def test_messagepack_invocation_becomes_json_values() -> None:
    import datetime

    moment = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    body = msgpack_invocation(1, {}, "3", "send", [b"\x00\xff", moment, {1: "one"}, 2.5], [])
    event = parse_event(headers(**{"Content-Type": "application/x-msgpack"}), body)
    assert event.protocol == "messagepack"
    assert event.invocation_id == "3"
    assert event.arguments == ("AP8=", "2024-05-01T12:00:00Z", {"1": "one"}, 2.5)
    # A body that still has the binary framing's length prefix is read too.
    framed = msgpack_invocation(1, {}, None, "send", ["x"], prefix=True)
    assert parse_event(headers(**{"Content-Type": "application/x-msgpack"}), framed).arguments == ("x",)


@pytest.mark.parametrize(
    ("hdrs", "body", "problem"),
    [
        ({"X-ASRS-Hub": ""}, b"{}", Problem.BAD_REQUEST),
        ({"X-ASRS-Category": "bogus"}, b"{}", Problem.BAD_REQUEST),
        ({"Content-Type": "text/plain"}, b'{"type":1,"target":"send"}', Problem.UNSUPPORTED_MEDIA_TYPE),
        ({}, b"not json", Problem.BAD_REQUEST),
        ({}, b'{"type":1,"target":"send","arguments":[NaN]}', Problem.BAD_REQUEST),
        ({}, b'{"type":4,"target":"send"}', Problem.BAD_REQUEST),  # a StreamInvocation
        ({}, b'{"type":1,"target":"other"}', Problem.BAD_REQUEST),  # X-ASRS-Event is the target
        ({}, b'{"type":1,"target":"send","arguments":{"a":1}}', Problem.BAD_REQUEST),
        ({"Content-Type": "application/x-msgpack"}, b"\xc1", Problem.BAD_REQUEST),
        (
            {"Content-Type": "application/x-msgpack"},
            msgpack_invocation(1, {}, None, "send", [float("nan")]),
            Problem.BAD_REQUEST,
        ),
    ],
)
def test_malformed_requests_are_refused(hdrs: dict[str, str], body: bytes, problem: Problem) -> None:
    with pytest.raises(UpstreamRequestError) as caught:
        parse_event(headers(**hdrs), body)
    assert caught.value.problem is problem


def test_completions_are_framed_in_the_clients_protocol() -> None:
    assert (
        completion("json", "5", result={"ok": True})
        == b'{"type":3,"invocationId":"5","result":{"ok":true}}\x1e'
    )
    assert completion("json", "5", error="no") == b'{"type":3,"invocationId":"5","error":"no"}\x1e'
    framed = completion("messagepack", "5", result=[1, "a"])
    payload = msgpack.packb([3, {}, "5", 3, [1, "a"]])
    assert framed == bytes([len(payload)]) + payload  # one varint byte: the payload is short
    long = completion("messagepack", "5", result="x" * 200)
    assert long[0] & 0x80
    assert msgpack.unpackb(long[2:]) == [3, {}, "5", 3, "x" * 200]


def test_envelope_has_one_shape_for_every_event() -> None:
    event = parse_event(
        headers(**{"X-ASRS-User-Id": "ann"}),
        b'{"type":1,"invocationId":"1","target":"send","arguments":["hi"]}',
    )
    envelope = build_envelope(event, timestamp_ms=1700000000000, event_id="e1")
    assert envelope == {
        "version": ENVELOPE_VERSION,
        "id": "e1",
        "timestamp": 1700000000000,
        "hub": "chat",
        "category": "messages",
        "event": "send",
        "connectionId": "conn-1",
        "userId": "ann",
        "claims": [],
        "query": {},
        "protocol": "json",
        "invocationId": "1",
        "arguments": ["hi"],
        "error": None,
    }
    connected = build_envelope(parse_event(headers("connections", "connected"), b""))
    assert set(connected) == set(envelope)
    assert (connected["arguments"], connected["invocationId"], connected["protocol"]) == ([], None, None)
    assert len(connected["id"]) == 32
    assert json.dumps(connected)
