"""The bridge's service-protocol codec writes and reads the exact bytes of the spec's vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.signalr.errors import PreflightError
from bridge.signalr.persistent import protocol as p

pytestmark = pytest.mark.unit

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "service_protocol.json").read_text())


def body(name: str) -> bytes:
    return base64.b64decode(VECTORS["bodies"][name])


def framed(name: str) -> bytes:
    return p.frame(body(name))


def two(json_bytes: list[int], mp_bytes: list[int]) -> dict[str, bytes]:
    return {"json": bytes(json_bytes), "messagepack": bytes(mp_bytes)}


# The SDK's vectors use rotations of 1..7 as payloads, the MessagePack one shifted by one.
P2 = two([2, 3, 4, 5, 6, 7, 1], [3, 4, 5, 6, 7, 1, 2])
P4 = two([4, 5, 6, 7, 1, 2, 3], [5, 6, 7, 1, 2, 3, 4])
P6 = two([6, 7, 1, 2, 3, 4, 5], [7, 1, 2, 3, 4, 5, 6])


@pytest.mark.parametrize(("length", "encoded"), sorted(VECTORS["varints"].items()))
def test_length_prefixes_match_the_binary_message_formatter(length: str, encoded: str) -> None:
    assert p.varint(int(length)).hex() == encoded


def test_handshake_is_the_weak_six_element_request() -> None:
    assert p.handshake_request().hex() == VECTORS["frames"]["handshake_request_weak"]


def test_bare_ping() -> None:
    assert p.PING.hex() == VECTORS["frames"]["ping"] == framed("ping").hex()
    assert p.ping("a", "b") == framed("ping_keyed_a_b")


def test_the_worked_broadcast_example_byte_for_byte() -> None:
    encoded = p.broadcast(p.payloads("m", [1], messagepack=True))
    assert encoded.hex() == VECTORS["frames"]["broadcast_all_m_1_both_protocols"]


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("broadcast", lambda: p.broadcast(P4)),
        (
            "broadcast_excluded",
            lambda: p.broadcast(P6, ["conn7", "conn8", "conn9"]),
        ),
        (
            "multi_connection_data",
            lambda: p.multi_connection_data(["conn6", "conn7"], P2),
        ),
        ("user_data", lambda: p.user_data("user1", P6)),
        ("group_broadcast", lambda: p.group_broadcast("group3", P6)),
        (
            "group_broadcast_excluded",
            lambda: p.group_broadcast("group3", P6, ["conn12", "conn13"]),
        ),
        ("close_connection", lambda: p.close_connection("conn3")),
        ("close_connection_reason", lambda: p.close_connection("conn4", "Error message.")),
        ("join_group_with_ack", lambda: p.join_group_with_ack("conn14", "group1").encode(1)),
        ("leave_group_with_ack", lambda: p.leave_group_with_ack("conn15", "group2").encode(1)),
    ],
)
def test_sender_messages_match_the_sdk_vectors(name: str, encoded: Any) -> None:
    assert encoded() == framed(name)


def test_user_group_ttl_travels_in_extension_key_2() -> None:
    # The SDK vector also carries a tracing id (key 1), which the bridge never sets.
    expected = msgpack.unpackb(body("user_join_group_with_ack_tracing_ttl_666"), strict_map_key=False)
    del expected[4][1]
    assert p.user_join_group_with_ack("conn14", "group1", ttl=666).encode(1) == p.pack(expected)
    assert msgpack.unpackb(p.user_join_group_with_ack("u", "g").encode(7)[1:]) == [26, "u", "g", 7, {}]


def test_leaving_every_group_writes_a_nil_group() -> None:
    assert msgpack.unpackb(p.leave_group_with_ack("c", None).encode(3)[1:]) == [19, "c", None, 3, {}]
    assert msgpack.unpackb(p.user_leave_group_with_ack("u", None).encode(4)[1:]) == [27, "u", None, 4, {}]


def test_removals_treat_not_found_as_already_so_and_adds_do_not() -> None:
    assert p.leave_group_with_ack("c", "g").not_found_is_benign
    assert p.user_leave_group_with_ack("u", None).not_found_is_benign
    assert not p.join_group_with_ack("c", "g").not_found_is_benign
    assert not p.user_join_group_with_ack("u", "g").not_found_is_benign


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("handshake_response_ok", p.HandshakeResponse("", None)),
        ("handshake_response_ok_with_id", p.HandshakeResponse("", "abc")),
        ("handshake_response_error", p.HandshakeResponse("Version mismatch.", None)),
        ("handshake_response_legacy_2", p.HandshakeResponse("", None)),
        ("handshake_response_legacy_error_3", p.HandshakeResponse("Version mismatch.", None)),
        ("ack", p.Ack(1, 100, "")),
        ("ack_with_message", p.Ack(2, 101, "Joined group successfully")),
        ("ack_legacy_4", p.Ack(1, 100, "")),
        ("ping", p.Ping(())),
        ("ping_keyed_a_b", p.Ping(("a", "b"))),
        ("service_error", p.ServiceError("Maximum message count limit reached: 100000")),
        ("service_event_user_not_existed", p.ServiceEvent(2, "abc", 2, "User abc is not existed.")),
        ("flow_control_server_offline", p.ConnectionFlowControl("conn2", 2, p.FlowControl.OFFLINE)),
    ],
)
def test_service_messages_are_read_as_the_sdk_reads_them(name: str, expected: p.Inbound) -> None:
    [message] = p.FrameReader().feed(framed(name))
    assert p.parse(message) == expected


def test_keyed_ping_lookup_is_pairwise() -> None:
    ping = p.Ping(("echo", "123", "d-m", "1"))
    assert ping.get("echo") == "123"
    assert ping.get("d-m") == "1"
    assert ping.get("123") is None


def test_unknown_message_types_are_ignored() -> None:
    [message] = p.FrameReader().feed(p.pack([99, "future", {}]))
    assert p.parse(message) is None


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=12), st.data())
def test_frames_split_anywhere_are_read_whole(sizes: list[int], data: st.DataObject) -> None:
    messages = [[p.MessageType.ACK, i, 1, "x" * size, {}] for i, size in enumerate(sizes)]
    stream = b"".join(p.pack(m) for m in messages)
    cuts = sorted(data.draw(st.sets(st.integers(min_value=1, max_value=len(stream) - 1), max_size=8)))
    reader = p.FrameReader()
    got = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got.extend(reader.feed(stream[start:end]))
    assert got == messages


def test_an_oversized_or_garbled_frame_is_a_protocol_error() -> None:
    with pytest.raises(p.ProtocolError):
        p.FrameReader(max_body=10).feed(p.varint(11) + b"x" * 11)
    with pytest.raises(p.ProtocolError):
        p.FrameReader().feed(p.frame(msgpack.packb("not an array")))
    with pytest.raises(p.ProtocolError):
        p.FrameReader().feed(b"\xff\xff\xff\xff\xff\x01")


def test_payloads_are_complete_hub_protocol_invocations() -> None:
    encoded = p.payloads("newMessage", ["ann", {"n": 1}], messagepack=True)
    assert encoded["json"] == b'{"type":1,"target":"newMessage","arguments":["ann",{"n":1}]}\x1e'
    mp = encoded["messagepack"]
    assert mp[0] == len(mp) - 1
    assert msgpack.unpackb(mp[1:]) == [1, {}, None, "newMessage", ["ann", {"n": 1}], []]
    assert set(p.payloads("t", [], messagepack=False)) == {"json"}


def test_arguments_neither_protocol_can_carry_fail_pre_flight() -> None:
    with pytest.raises(PreflightError):
        p.json_invocation("t", [float("nan")])
    with pytest.raises(PreflightError):
        p.messagepack_invocation("t", [2**70])
