"""The emulator's own service-protocol codec reads and writes the spec's byte vectors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bridge.emulator import hub_protocols
from bridge.emulator import service_protocol as sp

pytestmark = pytest.mark.unit

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "service_protocol.json").read_text())


def framed(name: str) -> bytes:
    body = base64.b64decode(VECTORS["bodies"][name])
    return sp.length_prefix(len(body)) + body


@pytest.mark.parametrize(("length", "encoded"), sorted(VECTORS["varints"].items()))
def test_length_prefixes(length: str, encoded: str) -> None:
    assert sp.length_prefix(int(length)).hex() == encoded


def test_reads_every_sender_vector_whole_even_fed_byte_by_byte() -> None:
    stream = b"".join(framed(name) for name in VECTORS["bodies"])
    reader = sp.StreamReader()
    messages = [m for i in range(len(stream)) for m in reader.feed(stream[i : i + 1])]
    assert len(messages) == len(VECTORS["bodies"])
    assert [m[0] for m in messages][:3] == [1, 2, 2]


def test_handshake_request_and_the_worked_broadcast_example() -> None:
    reader = sp.StreamReader()
    [handshake] = reader.feed(bytes.fromhex(VECTORS["frames"]["handshake_request_weak"]))
    assert sp.Fields(handshake).integer(2) == sp.WEAK
    [broadcast] = reader.feed(bytes.fromhex(VECTORS["frames"]["broadcast_all_m_1_both_protocols"]))
    fields = sp.Fields(broadcast)
    assert fields.type == sp.BROADCAST_DATA
    assert fields.texts(1) == []
    payloads = fields.payloads(2)
    assert hub_protocols.describe("json", payloads["json"]) == ("m", [1])
    assert hub_protocols.describe("messagepack", payloads["messagepack"]) == ("m", [1])


def test_fields_of_sdk_messages() -> None:
    reader = sp.StreamReader()
    [group] = reader.feed(framed("group_broadcast_excluded"))
    fields = sp.Fields(group)
    assert (fields.text(1), fields.texts(2), fields.texts(5)) == ("group3", ["conn12", "conn13"], [])
    [ttl] = reader.feed(framed("user_join_group_ttl_100"))
    assert sp.Fields(ttl).ttl(3) == 100
    [ack_ttl] = reader.feed(framed("user_join_group_with_ack_tracing_ttl_666"))
    assert sp.Fields(ack_ttl).ttl(4) == 666
    assert sp.Fields(ack_ttl).integer(3) == 1
    [close] = reader.feed(framed("close_connection_reason"))
    assert sp.Fields(close).optional_text(2) == "Error message."


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("handshake_response_ok_with_id", lambda: sp.handshake_response("", "abc")),
        ("handshake_response_error", lambda: sp.handshake_response("Version mismatch.", None)),
        ("ack", lambda: sp.ack(1, 100)),
        ("ack_with_message", lambda: sp.ack(2, 101, "Joined group successfully")),
        ("ping", sp.ping),
        ("ping_keyed_a_b", lambda: sp.ping("a", "b")),
        ("service_error", lambda: sp.service_error("Maximum message count limit reached: 100000")),
    ],
)
def test_service_messages_are_written_as_the_sdk_writes_them(name: str, written: object) -> None:
    assert callable(written)
    assert written() == framed(name)


def test_offline_flow_control_matches_the_vector_in_meaning() -> None:
    # The SDK vector writes its ints as int32 (d2); msgpack's smallest form reads the same.
    [ours] = sp.StreamReader().feed(sp.offline("conn2"))
    [theirs] = sp.StreamReader().feed(framed("flow_control_server_offline"))
    assert ours == theirs


def test_malformed_input_is_a_protocol_error() -> None:
    with pytest.raises(sp.ServiceProtocolError):
        sp.StreamReader().feed(b"\x02\xa1x")  # a string, not an array
    with pytest.raises(sp.ServiceProtocolError):
        sp.StreamReader(max_message=4).feed(b"\x05" + b"\x95" + b"\x00" * 4)
    with pytest.raises(sp.ServiceProtocolError):
        sp.Fields([13, 7]).text(1)
