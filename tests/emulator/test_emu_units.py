"""Pure pieces of the emulator: name rules, framing, audience rules, fault bookkeeping."""

from __future__ import annotations

import pytest
from emu_support import ACCESS_KEY, sign

from bridge.emulator import hub_protocols, names, protocol
from bridge.emulator.auth import AuthError, RequestTarget, TokenValidator, user_id_of
from bridge.emulator.faults import FaultError, FaultInjector
from bridge.emulator.hub import ServiceState

pytestmark = pytest.mark.unit

TARGET = RequestTarget("http", {"127.0.0.1"})


@pytest.mark.parametrize(
    ("hub", "application", "expected"),
    [("Chat", None, "chat"), ("chat", "MyApp", "myapp_chat"), ("a[1].b`,_", None, "a[1].b`,_")],
)
def test_effective_hub_lowercases_and_prefixes(hub: str, application: str | None, expected: str) -> None:
    assert names.effective_hub(hub, application) == expected


@pytest.mark.parametrize("hub", ["", "1a", "_a", "a b", "a-b", "a" * 129])
def test_invalid_hub_names(hub: str) -> None:
    with pytest.raises(names.InvalidNameError):
        names.effective_hub(hub)


def test_group_rules() -> None:
    assert names.check_group(" a ") == " a "
    for bad in ("", "   ", "g" * 1025):
        with pytest.raises(names.InvalidNameError):
            names.check_group(bad)


def test_decode_splits_records_and_rejects_partial_frames() -> None:
    frame = protocol.encode({"type": 6}) + protocol.encode(protocol.invocation("t", [1, "é"]))
    assert protocol.decode(frame) == [{"type": 6}, {"type": 1, "target": "t", "arguments": [1, "é"]}]
    for bad in ('{"type":6}', "[1]\x1e", "{nope\x1e"):
        with pytest.raises(protocol.ProtocolError):
            protocol.decode(bad)


def test_handshake_accepts_json_and_messagepack_version_1() -> None:
    assert protocol.handshake_error('{"protocol":"json","version":1}\x1e{"type":6}\x1e') == (
        None,
        "json",
        '{"type":6}\x1e',
    )
    assert protocol.handshake_error('{"protocol":"messagepack","version":1}\x1e') == (None, "messagepack", "")
    assert protocol.handshake_error('{"protocol":"blazorpack","version":1}\x1e')[0] is not None
    assert protocol.handshake_error('{"protocol":"json","version":2}\x1e')[0] is not None
    assert (
        protocol.handshake_error('{"protocol":"json","version":1}')[0] == "Handshake message is incomplete."
    )


def test_close_message_shape() -> None:
    assert protocol.close("bye", allow_reconnect=True) == {"type": 7, "error": "bye", "allowReconnect": True}
    assert protocol.close(None, allow_reconnect=False) == {"type": 7}


@pytest.mark.parametrize(
    ("aud", "path", "ok"),
    [
        ("http://127.0.0.1/api/hubs/h/:send", "/api/hubs/h/:send", True),
        ("http://127.0.0.1/api/hubs/h/:send/", "/api/hubs/h/:send", True),
        ("http://127.0.0.1/api/hubs/h/groups/a%2Fb/:send", "/api/hubs/h/groups/a%2Fb/:send", True),
        ("http://127.0.0.1/api/hubs/h/:send?api-version=2022-06-01", "/api/hubs/h/:send", True),
        ("HTTP://127.0.0.1/api/hubs/h/:send", "/api/hubs/h/:send", True),
        ("http://127.0.0.1:80/api/hubs/h/:send", "/api/hubs/h/:send", False),
        ("http://localhost/api/hubs/h/:send", "/api/hubs/h/:send", False),
        ("http://127.0.0.1/api/hubs/h", "/api/hubs/h/:send", False),
        ("http://127.0.0.1/client/?hub=h", "/api/hubs/h/:send", False),
    ],
)
def test_rest_audience_rules(aud: str, path: str, ok: bool) -> None:
    validator = TokenValidator(ACCESS_KEY)
    if ok:
        assert validator.validate_rest(sign(aud), TARGET, path)["aud"] == aud
    else:
        with pytest.raises(AuthError, match="audience"):
            validator.validate_rest(sign(aud), TARGET, path)


def test_client_audience_needs_the_same_hub_case_insensitively() -> None:
    validator = TokenValidator(ACCESS_KEY)
    assert validator.validate_client(sign("http://127.0.0.1/client/?hub=Chat"), TARGET, "chat")
    with pytest.raises(AuthError):
        validator.validate_client(sign("http://127.0.0.1/client/?hub=chat2"), TARGET, "chat")


def test_clock_skew_is_configurable() -> None:
    token = sign("http://127.0.0.1/x", lifetime=-10)
    with pytest.raises(AuthError, match="expired"):
        TokenValidator(ACCESS_KEY).validate_rest(token, TARGET, "/x")
    assert TokenValidator(ACCESS_KEY, clock_skew_seconds=60).validate_rest(token, TARGET, "/x")


def test_user_id_claim_precedence() -> None:
    assert user_id_of({"sub": "s", "nameid": "n", "asrs.s.uid": "u"}) == "u"
    assert user_id_of({"sub": "s", "nameid": "n"}) == "n"
    assert user_id_of({"sub": "s"}) == "s"
    assert user_id_of({"aud": "x"}) is None


def test_counted_fault_is_consumed_and_standing_latency_stays() -> None:
    faults = FaultInjector()
    faults.inject(None, latency_ms=100)
    faults.inject(2, 503, retry_after=1, latency_ms=50)
    first, second, third = faults.next(), faults.next(), faults.next()
    assert first[0] == pytest.approx(0.15)
    assert first[1] is not None
    assert first[1].status == 503
    assert second[1] is not None
    assert third == (pytest.approx(0.1), None)
    with pytest.raises(FaultError):
        faults.inject(None, 500)


def test_only_the_100_most_recent_groups_without_ttl_are_kept() -> None:
    state = ServiceState(record_messages=False)
    for n in range(102):
        state.add_user_to_group("hub", "u", f"g{n}", None)
    state.add_user_to_group("hub", "u", "g0", None)  # re-adding an evicted group makes it the newest
    state.add_user_to_group("hub", "u", "timed", 60)  # TTL groups do not count against the cap
    kept = state.snapshot()["userGroups"]["hub"]["u"]
    assert len(kept) == 101
    assert "g1" not in kept
    assert "g2" not in kept
    assert {"g0", "g3", "g101", "timed"} <= set(kept)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (
            {"type": 3, "invocationId": "7", "result": {"ok": True}},
            {"invocationId": "7", "result": {"ok": True}},
        ),
        (
            {"type": 3, "invocationId": "8", "error": "Invocation failed"},
            {"invocationId": "8", "error": "Invocation failed"},
        ),
        ({"type": 3, "invocationId": "9"}, {"invocationId": "9"}),
    ],
)
def test_an_upstream_completion_reaches_a_messagepack_client_in_messagepack(
    completion: dict[str, object], expected: dict[str, object]
) -> None:
    framed = protocol.encode(completion)
    assert hub_protocols.translate_completion(hub_protocols.JSON, framed) == framed
    binary = hub_protocols.translate_completion(hub_protocols.MESSAGEPACK, framed)
    assert isinstance(binary, bytes)
    [decoded] = hub_protocols.decode_messagepack(binary)
    assert decoded == {"type": protocol.MessageType.COMPLETION, **expected}
