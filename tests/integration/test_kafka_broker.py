"""The real broker works: aiokafka round-trips records through it, across partitions."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.integration


async def test_records_round_trip_with_keys_headers_and_order(bootstrap_servers: str, unique) -> None:
    topic = unique.topic()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i in range(30):
            await producer.send_and_wait(
                topic, f"value-{i}".encode(), key=f"k{i % 3}".encode(), headers=[("n", str(i).encode())]
            )
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, group_id=unique.group(), auto_offset_reset="earliest"
    )
    await consumer.start()
    received: list[tuple[bytes, bytes, int, int]] = []
    try:
        async with asyncio.timeout(60):
            while len(received) < 30:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    received += [(r.key, r.value, int(dict(r.headers)["n"]), r.partition) for r in records]
    finally:
        await consumer.stop()

    assert sorted(n for *_, n, _ in received) == list(range(30))
    # One key always lands on one partition, and within it records keep the produced order.
    for key in (b"k0", b"k1", b"k2"):
        numbers = [n for k, _, n, _ in received if k == key]
        assert numbers == sorted(numbers)
        assert len({p for k, _, _, p in received if k == key}) == 1
    assert len({p for *_, p in received}) > 1, "keys should spread over the 3 partitions"
    assert all(v == f"value-{n}".encode() for _, v, n, _ in received)


async def test_committed_offsets_survive_a_consumer_restart(bootstrap_servers: str, unique) -> None:
    topic, group = unique.topic(), unique.group()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, str(i).encode(), partition=0)
    finally:
        await producer.stop()

    async def consume(count: int) -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        values: list[bytes] = []
        try:
            async with asyncio.timeout(60):
                while len(values) < count:
                    record = await consumer.getone()
                    values.append(record.value)
            await consumer.commit()
        finally:
            await consumer.stop()
        return values

    assert await consume(4) == [b"0", b"1", b"2", b"3"]
    assert await consume(6) == [str(i).encode() for i in range(4, 10)]
