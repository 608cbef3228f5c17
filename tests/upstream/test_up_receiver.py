"""The upstream receiver against a real Kafka broker: what the service posts, what lands in the topic."""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import trustme
from up_support import Running, Upstream, config_text, envelope, read_until, read_until_marker, signature

from bridge.observability.metrics import UPSTREAM_REQUESTS, UPSTREAM_SIGNATURE_FAILURES

pytestmark = pytest.mark.integration

Start = Callable[..., Awaitable[Running]]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def routes(topic: str) -> str:
    return f"""\
    - name: messages
      category: messages
      event: [send, join, ask]
      topic: {topic}
      headers: {{x-event: "{{event}}"}}
    - name: connections
      category: connections
      topic: {topic}
      filter: "!starts_with(connectionId, 'quiet')"
    - name: answers
      category: messages
      event: ask
      topic: {topic}-answers
      result: {{question: "{{arguments[0]}}", stored: "{{record}}"}}
"""


def metric(running: Running, name: str, **labels: str) -> float:
    value = running.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_an_invocation_becomes_one_record_with_key_envelope_and_headers(
    start_receiver: Start, bootstrap_servers: str, unique: Any
) -> None:
    topic = unique.topic()
    running = await start_receiver(config_text(bootstrap_servers, routes(topic)))
    response = await running.upstream.invoke(
        "send", "room1", {"text": "hi"}, user="ann", headers={"traceparent": TRACEPARENT}
    )
    assert response.status_code == 204, response.text  # send(): nothing to return
    await running.upstream.marker()
    [record] = await read_until_marker(bootstrap_servers, topic)
    assert record.key == b"ann"  # the default key: the user id
    value = envelope(record)
    assert value["arguments"] == ["room1", {"text": "hi"}]
    assert (value["hub"], value["category"], value["event"]) == ("chat", "messages", "send")
    assert (value["connectionId"], value["userId"], value["invocationId"]) == ("conn-1", "ann", None)
    assert value["version"] == 1
    assert record.timestamp == value["timestamp"]
    headers = dict(record.headers)
    assert headers["traceparent"] == TRACEPARENT.encode()
    assert headers["x-event"] == b"send"
    assert headers["content-type"] == b"application/json"
    labels = {"hub": "chat", "category": "messages", "event": "send", "outcome": "produced"}
    assert metric(running, UPSTREAM_REQUESTS, **labels) == 1


async def test_connects_and_disconnects_land_keyed_by_connection(
    start_receiver: Start, bootstrap_servers: str, unique: Any
) -> None:
    topic = unique.topic()
    running = await start_receiver(config_text(bootstrap_servers, routes(topic)))
    assert (await running.upstream.post("connections", "connected", connection_id="c-7")).status_code == 204
    gone = {"type": 11, "error": "transport closed"}
    assert (
        await running.upstream.post("connections", "disconnected", gone, connection_id="c-7")
    ).status_code == 204
    # The route's filter drops these: answered 204 (skipped), nothing produced.
    assert (
        await running.upstream.post("connections", "connected", connection_id="quiet-1")
    ).status_code == 204
    await running.upstream.marker()
    records = await read_until_marker(bootstrap_servers, topic)
    assert [(r.key, envelope(r)["event"], envelope(r)["error"]) for r in records] == [
        (b"c-7", "connected", None),
        (b"c-7", "disconnected", "transport closed"),
    ]


@pytest.mark.parametrize("signed", [None, "sha256=" + "ab" * 32, signature("conn-1", key="another-key")])
async def test_a_missing_or_forged_signature_is_401_and_produces_nothing(
    start_receiver: Start, bootstrap_servers: str, unique: Any, signed: str | None
) -> None:
    topic = unique.topic()
    running = await start_receiver(config_text(bootstrap_servers, routes(topic)))
    response = await running.upstream.invoke("send", "forged", signed=signed)
    assert response.status_code == 401
    await running.upstream.marker()
    assert await read_until_marker(bootstrap_servers, topic) == []
    reason = "missing" if signed is None else "mismatch"
    assert metric(running, UPSTREAM_SIGNATURE_FAILURES, reason=reason) == 1


async def test_extra_access_keys_are_accepted_too(
    start_receiver: Start, bootstrap_servers: str, unique: Any
) -> None:
    topic = unique.topic()
    text = config_text(bootstrap_servers, routes(topic), upstream="  access_keys: [rotated-key]\n")
    running = await start_receiver(text)
    signed = "sha256=00," + signature("conn-1", key="rotated-key")  # the service's two-signature form
    assert (await running.upstream.invoke("send", 1, signed=signed)).status_code == 204


async def test_invoke_gets_a_completion_with_the_routes_result_json_and_messagepack(
    start_receiver: Start, bootstrap_servers: str, unique: Any
) -> None:
    topic = unique.topic()
    running = await start_receiver(config_text(bootstrap_servers, routes(topic)))
    response = await running.upstream.invoke("ask", "why?", invocation_id="9")
    assert response.status_code == 200
    assert response.content.endswith(b"\x1e")
    completion = json.loads(response.content[:-1])
    assert completion["type"] == 3
    assert completion["invocationId"] == "9"
    result = completion["result"]
    assert result["question"] == "why?"
    assert result["stored"]["topic"] == f"{topic}-answers"
    # The result says where the record is: read it there.
    [stored] = await read_until(bootstrap_servers, f"{topic}-answers", lambda rs: len(rs) >= 1)
    assert (stored.partition, stored.offset) == (result["stored"]["partition"], result["stored"]["offset"])

    body = msgpack.packb([1, {}, "10", "ask", ["in binary", b"\x01\x02"]])
    response = await running.upstream.post("messages", "ask", body, content_type="application/x-msgpack")
    assert response.status_code == 200
    size = (response.content[0] & 0x7F) | (response.content[1] << 7)  # the framing's varint prefix
    payload = response.content[2:]
    assert size == len(payload)
    assert msgpack.unpackb(payload)[:4] == [3, {}, "10", 3]
    assert msgpack.unpackb(payload)[4]["question"] == "in binary"


@pytest.mark.parametrize(
    ("post", "status", "outcome"),
    [
        (("messages", "unknown", {"type": 1, "target": "unknown"}), 404, "unrouted"),
        (("messages", "send", b"{broken"), 400, "bad_request"),
        (("messages", "send", {"type": 1, "target": "send"}, "text/plain"), 415, "unsupported_media_type"),
        (("messages", "send", {"type": 1, "target": "send", "arguments": ["x" * 5000]}), 413, "too_large"),
    ],
)
async def test_requests_the_bridge_cannot_use_are_refused_and_produce_nothing(
    start_receiver: Start,
    bootstrap_servers: str,
    unique: Any,
    post: tuple[Any, ...],
    status: int,
    *,
    outcome: str,
) -> None:
    topic = unique.topic()
    text = config_text(bootstrap_servers, routes(topic), upstream="  max_body_bytes: 4096\n")
    running = await start_receiver(text)
    category, event, body, *content_type = post
    response = await running.upstream.post(
        category, event, body, content_type=(content_type or ["application/json"])[0]
    )
    assert response.status_code == status, response.text
    assert response.json()["reason"] == outcome
    await running.upstream.marker()
    assert await read_until_marker(bootstrap_servers, topic) == []
    event_label = event if event in ("send",) else "other"
    assert (
        metric(running, UPSTREAM_REQUESTS, hub="chat", category=category, event=event_label, outcome=outcome)
        == 1
    )


async def test_a_record_a_route_cannot_build_is_400(
    start_receiver: Start, bootstrap_servers: str, unique: Any
) -> None:
    topic = unique.topic()
    text = config_text(
        bootstrap_servers,
        f"    - name: by-room\n      topic: {topic}\n      key: '{{arguments[0].room}}'\n",
    )
    running = await start_receiver(text)
    response = await running.upstream.invoke("send", "no room here")
    assert response.status_code == 400
    assert "missing_field" in response.json()["message"]


async def test_kafka_unreachable_is_503_with_retry_after_and_not_ready(
    start_receiver: Start, unique: Any
) -> None:
    import socket

    from up_support import config_text as text_for

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    running = await start_receiver(text_for(dead, routes(unique.topic())), wait_for_kafka=False)
    response = await running.upstream.invoke("send", 1)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    verdict = running.health.readiness()
    assert not verdict.ok
    assert any(reason.startswith("upstream:") for reason in verdict.reasons)


async def test_the_receiver_serves_https_with_the_configured_certificate(
    start_receiver: Start, bootstrap_servers: str, unique: Any, tmp_path: Path
) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.private_key_pem.write_to_path(str(key_file))
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    topic = unique.topic()
    tls = f"  tls: {{cert_file: '{cert_file}', key_file: '{key_file}'}}\n"
    running = await start_receiver(config_text(bootstrap_servers, routes(topic), upstream=tls))
    assert running.receiver.url.startswith("https://")
    context = ssl.create_default_context()
    authority.configure_trust(context)
    async with httpx.AsyncClient(verify=context) as https:
        secure = Upstream(running.receiver.url, https)
        assert (await secure.invoke("send", "over tls")).status_code == 204
    async with httpx.AsyncClient() as plain:  # the system trust store does not know this CA
        with pytest.raises(httpx.ConnectError):
            await Upstream(running.receiver.url, plain).invoke("send", "unverified")
