"""Two-way bridge end to end: the official JavaScript client -> the emulator's upstream calls ->
the bridge's receiver -> Kafka, and on to other clients through the bridge's outbound routes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from e2e_support import BridgeProcess, JsClient, create_topic, free_port, token_for

from bridge.emulator import EmulatorServer, UpstreamRetry, UpstreamSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy" / "local"))
from kafka_broker import KafkaBroker  # deploy/local is not a package

pytestmark = pytest.mark.e2e

HUB = "chat"
# The real service was last documented not to retry (UPSTREAM.md §4); these tests turn the
# emulator's retries on, so an outage of Kafka delays events instead of losing them.
RETRY = UpstreamRetry(max_attempts=10_000, delay_seconds=0.2, max_delay_seconds=1.0)


@pytest.fixture
def upstream_port() -> int:
    return free_port()


@pytest.fixture
async def emulator(upstream_port: int) -> AsyncIterator[EmulatorServer]:
    url = f"http://127.0.0.1:{upstream_port}/upstream/{{hub}}/{{category}}/{{event}}"
    async with EmulatorServer(
        test_hooks=True, upstream=UpstreamSettings.everything_to(url, retry=RETRY)
    ) as server:
        yield server


def two_way_config(
    bootstrap: str, upstream_port: int, topic: str, *, outbound: bool = False, group: str = "g"
) -> str:
    text = f"""
kafka:
  bootstrap_servers: {bootstrap}
  group_id: {group}
  start_from: earliest
  session_timeout_ms: 6000
signalr:
  hub: {HUB}
observability:
  host: 127.0.0.1
  port: __METRICS_PORT__
upstream:
  host: 127.0.0.1
  port: {upstream_port}
  produce_timeout_seconds: 3
  routes:
    - name: from-clients
      topic: {topic}
"""
    if outbound:
        text += f"""
routes:
  - name: join-room
    topics: [{topic}]
    filter: "value.event == 'join'"
    actions:
      - group: {{action: add, connectionId: "{{value.connectionId}}", groupName: "{{value.arguments[0]}}"}}
  - name: say-in-room
    topics: [{topic}]
    filter: "value.event == 'send'"
    actions:
      - send:
          target: newMessage
          groupName: "{{value.arguments[0]}}"
          arguments: ["{{value.userId}}", "{{value.arguments[1]}}"]
"""
    return text


async def client(emulator: EmulatorServer, user: str, targets: tuple[str, ...] = ()) -> JsClient:
    return await JsClient.connect(token_for(emulator.connection_string, HUB, user), list(targets))


async def read(
    bootstrap: str, topic: str, done: Callable[[list[Any]], bool], timeout: float = 90
) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while not done(records):
                for batch in (await consumer.getmany(timeout_ms=300)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


def value(record: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(record.value)
    return parsed


async def test_the_official_clients_invocations_connect_and_disconnect_land_in_kafka(
    bootstrap_servers: str, emulator: EmulatorServer, bridges: Any, upstream_port: int, unique: Any
) -> None:
    topic = unique.topic()
    bridge = bridges(two_way_config(bootstrap_servers, upstream_port, topic, group=unique.group()))
    await bridge.wait_ready()
    ann = await client(emulator, "ann")
    assert await ann.invoke("send", "room1", {"text": "hello"}) == {
        "event": "result",
        "id": 1,
        "result": None,
    }
    assert (await ann.command(send="typing", arguments=[True]))["event"] == "sent"
    await ann.stop()
    records = await read(bootstrap_servers, topic, lambda rs: len(rs) >= 4)
    await assert_nothing_more(bootstrap_servers, topic, len(records))
    events = [(r.key, value(r)["event"], value(r)["arguments"]) for r in records]
    assert events == [
        (b"ann", "connected", []),
        (b"ann", "send", ["room1", {"text": "hello"}]),
        (b"ann", "typing", [True]),
        (b"ann", "disconnected", []),
    ]
    first = value(records[1])
    assert (first["hub"], first["category"], first["connectionId"]) == (HUB, "messages", ann.connection_id)
    assert first["userId"] == "ann"
    assert first["invocationId"] is not None
    assert first["protocol"] == "json"
    assert {"type": "asrs.s.uid", "value": "ann"} in first["claims"]
    assert "access_token" not in first["query"]
    assert value(records[2])["invocationId"] is None  # send(): no answer expected
    await ann.close()


async def assert_nothing_more(bootstrap: str, topic: str, count: int) -> None:
    """A marker produced now is the next record: each event landed exactly once."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"event":"__marker__"}', key=b"ann")
    finally:
        await producer.stop()
    records = await read(bootstrap, topic, lambda rs: any(value(r)["event"] == "__marker__" for r in rs))
    assert len(records) == count + 1, [value(r)["event"] for r in records]


async def test_a_service_with_the_wrong_key_gets_401_and_nothing_is_produced(
    bootstrap_servers: str, emulator: EmulatorServer, bridges: Any, upstream_port: int, unique: Any
) -> None:
    topic = unique.topic()
    bridge = bridges(two_way_config(bootstrap_servers, upstream_port, topic, group=unique.group()))
    await bridge.wait_ready()
    url = f"http://127.0.0.1:{upstream_port}/upstream"
    async with EmulatorServer(
        access_key="not-the-bridges-key", upstream=UpstreamSettings.everything_to(url)
    ) as forged:
        mallory = await JsClient.connect(token_for(forged.connection_string, HUB, "mallory"), [])
        answer = await mallory.invoke("send", "room1", "forged")
        assert answer["event"] == "error"
        assert "Invocation failed, status code 401" in answer["error"]
        await mallory.close()
    honest = await client(emulator, "ann")  # the marker: its connect lands, nothing before it
    records = await read(bootstrap_servers, topic, lambda rs: len(rs) >= 1)
    assert [value(r)["userId"] for r in records] == ["ann"]
    await honest.close()
    assert 'signalr_bridge_upstream_signature_failures_total{reason="mismatch"}' in await bridge.metrics()


async def test_round_trip_with_no_app_server(
    bootstrap_servers: str, emulator: EmulatorServer, bridges: Any, upstream_port: int, unique: Any
) -> None:
    """Client A in group room1 invokes send -> Kafka -> the outbound route -> client B in room1."""
    topic = unique.topic()
    await create_topic(bootstrap_servers, topic, 3)  # the consumer sees it at once, not at a metadata refresh
    bridge = bridges(
        two_way_config(bootstrap_servers, upstream_port, topic, outbound=True, group=unique.group())
    )
    await bridge.wait_ready()
    alice = await client(emulator, "alice", ("newMessage",))
    bob = await client(emulator, "bob", ("newMessage",))
    for person in (alice, bob):
        assert (await person.invoke("join", "room1"))["event"] == "result"

    def in_room() -> set[str]:
        return set(emulator.state()["groups"].get(HUB, {}).get("room1", []))

    deadline = asyncio.get_running_loop().time() + 60
    while in_room() != {alice.connection_id, bob.connection_id}:  # joins travel through Kafka too
        assert asyncio.get_running_loop().time() < deadline, emulator.state()["groups"]
        await asyncio.sleep(0.1)
    assert (await alice.invoke("send", "room1", "hello bob"))["event"] == "result"
    assert await bob.message(timeout=60) == ("newMessage", ["alice", "hello bob"])
    await alice.close()
    await bob.close()


@pytest.fixture
def own_broker() -> Any:
    """A broker of this test's own: it is stopped and started again mid-test."""
    broker = KafkaBroker(partitions=3)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_kafka_stopped_mid_stream_loses_nothing_and_keeps_each_connections_order(
    own_broker: KafkaBroker, emulator: EmulatorServer, tmp_path: Path, upstream_port: int, unique: Any
) -> None:
    bootstrap = own_broker.bootstrap_servers
    topic = unique.topic()
    env = {"AzureSignalRConnectionString": emulator.connection_string}
    bridge = BridgeProcess(two_way_config(bootstrap, upstream_port, topic), tmp_path, env).start()
    try:
        await bridge.wait_ready()
        senders = [await client(emulator, name) for name in ("ann", "bob")]
        count = 60
        bursts = [
            asyncio.create_task(
                sender.command(burst="step", count=count, interval_ms=100, prefix=[name], timeout=300)
            )
            for sender, name in zip(senders, ("ann", "bob"), strict=True)
        ]

        def steps(records: list[Any]) -> int:
            """Distinct steps (connection, number): duplicates after the outage count once."""
            return len({(r.key, value(r)["arguments"][1]) for r in records if value(r)["event"] == "step"})

        await read(bootstrap, topic, lambda rs: steps(rs) >= 10)  # mid-stream
        await asyncio.to_thread(own_broker.stop, keep_data=True)
        failed_before = sum(v for k, v in emulator.state()["upstream"].items() if k.startswith("5"))
        deadline = asyncio.get_running_loop().time() + 60
        while (
            sum(v for k, v in emulator.state()["upstream"].items() if k.startswith("5")) < failed_before + 3
        ):
            assert asyncio.get_running_loop().time() < deadline, emulator.state()["upstream"]
            await asyncio.sleep(0.1)
        assert emulator.state()["upstream"]["retried"] >= 3  # the service retried what the bridge refused
        await asyncio.to_thread(own_broker.start)
        for burst in bursts:
            assert (await burst)["event"] == "burst-done"
        records = await read(bootstrap, topic, lambda rs: steps(rs) >= 2 * count, timeout=180)
        for name in ("ann", "bob"):
            seen = [
                value(r)["arguments"][1]
                for r in records
                if value(r)["event"] == "step" and r.key == name.encode()
            ]
            first = list(dict.fromkeys(seen))
            assert first == list(range(count)), f"{name}: {seen}"  # nothing lost, in the client's order
            assert seen == sorted(seen), f"{name}: a duplicate after a later step: {seen}"
        for sender in senders:
            await sender.close()
    finally:
        bridge.stop()
