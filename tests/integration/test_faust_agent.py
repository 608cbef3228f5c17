"""faust-streaming 0.15 agents consume from the real Kafka 4.x broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaProducer

pytestmark = pytest.mark.integration


async def test_faust_agent_receives_records(bootstrap_servers: str, unique, tmp_path: Path) -> None:
    topic_name = unique.topic()
    app = faust.App(
        unique.group("faust"),
        broker=f"kafka://{bootstrap_servers}",
        store="memory://",
        datadir=str(tmp_path),
        web_enabled=False,
        topic_partitions=3,
        consumer_auto_offset_reset="earliest",
        # The bridge needs no tables: no changelog topics, no assignor leader topic.
        topic_disable_leader=True,
    )
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, value_serializer="raw", partitions=3)
    received: list[tuple[bytes, bytes]] = []
    done = asyncio.Event()

    @app.agent(topic)
    async def collect(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            received.append((event.key, event.value))
            if len(received) == 20:
                done.set()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        for i in range(20):
            await producer.send_and_wait(topic_name, f"v{i}".encode(), key=f"k{i % 4}".encode())
    finally:
        await producer.stop()

    await app.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=90)
    finally:
        await app.stop()

    assert sorted(v for _, v in received) == sorted(f"v{i}".encode() for i in range(20))
    for key in (b"k0", b"k1", b"k2", b"k3"):
        per_key = [int(v[1:]) for k, v in received if k == key]
        assert per_key == sorted(per_key), "faust must keep order within a key"
