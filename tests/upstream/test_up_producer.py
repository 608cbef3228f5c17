"""The receiver's write path with a stand-in for aiokafka: confirmation, outages, bounded load.

Narrow tests with a fake producer, because they need Kafka to hold an answer on command;
the same paths against a real broker that stops are in tests/e2e/test_e2e_upstream.py.
"""

from __future__ import annotations

import asyncio
from collections import namedtuple
from typing import Any

import httpx
import pytest
from up_support import Upstream, config_text, until

from bridge.config import load_config_text
from bridge.observability.health import HealthState
from bridge.observability.metrics import UPSTREAM_REQUESTS, BridgeMetrics
from bridge.upstream.producer import InboundProducer, KafkaUnavailableError, OutgoingRecord
from bridge.upstream.receiver import UpstreamReceiver

pytestmark = pytest.mark.unit

Metadata = namedtuple("Metadata", "topic partition offset")
ROUTE = "    - name: all\n      topic: events\n"


class FakeKafka:
    """Hands out one future per record and resolves them only when told to."""

    instances: list[FakeKafka] = []

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.sent: list[tuple[str, bytes]] = []
        self.waiting: list[asyncio.Future[Any]] = []
        self.client = self
        FakeKafka.instances.append(self)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def fetch_all_metadata(self) -> None:
        pass

    async def send(self, topic: str, value: bytes, **kw: Any) -> asyncio.Future[Any]:
        self.sent.append((topic, value))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        return future

    def confirm_all(self) -> None:
        for offset, future in enumerate(self.waiting):
            if not future.done():
                future.set_result(Metadata("events", 0, offset))


RECORD = OutgoingRecord("events", b"k", b"{}")


async def started_producer() -> tuple[InboundProducer, FakeKafka]:
    config = load_config_text(config_text("127.0.0.1:9", ROUTE), environ={}).config
    producer = InboundProducer(config.kafka, producer_factory=FakeKafka)
    await producer.start()
    await until(lambda: producer.available)
    return producer, FakeKafka.instances[-1]


async def test_the_producer_is_idempotent_with_acks_all() -> None:
    producer, kafka = await started_producer()
    assert kafka.settings["acks"] == "all"
    assert kafka.settings["enable_idempotence"] is True
    await producer.stop()


async def test_produce_returns_only_once_kafka_confirmed() -> None:
    producer, kafka = await started_producer()
    task = asyncio.create_task(producer.produce([RECORD], wait_seconds=30))
    await until(lambda: kafka.waiting)
    assert not task.done()
    kafka.confirm_all()
    assert [(w.topic, w.offset) for w in await task] == [("events", 0)]
    await producer.stop()


async def test_after_a_timeout_nothing_new_is_queued_until_the_old_writes_are_confirmed() -> None:
    producer, kafka = await started_producer()
    with pytest.raises(KafkaUnavailableError):
        await producer.produce([RECORD], wait_seconds=0.05)
    assert not producer.available
    # While the first write hangs, a retry of the service must not add a second copy behind it.
    with pytest.raises(KafkaUnavailableError, match="not confirmed"):
        await producer.produce([RECORD], wait_seconds=5)
    assert len(kafka.sent) == 1
    kafka.confirm_all()  # Kafka is back: the held write lands, and new ones are taken again
    await asyncio.sleep(0)
    assert producer.available
    task = asyncio.create_task(producer.produce([RECORD], wait_seconds=5))
    await until(lambda: len(kafka.waiting) >= 2)
    kafka.confirm_all()
    await task
    assert len(kafka.sent) == 2
    await producer.stop()


async def test_over_the_in_flight_cap_the_answer_is_an_immediate_503() -> None:
    text = config_text("127.0.0.1:9", ROUTE, upstream="  max_in_flight: 2\n")
    config = load_config_text(text, environ={}).config
    metrics = BridgeMetrics(process_metrics=False)
    producer = InboundProducer(config.kafka, producer_factory=FakeKafka)
    receiver = UpstreamReceiver(
        config, metrics=metrics, health=HealthState(metrics, outbound=False), producer=producer
    )
    await receiver.start()
    try:
        await until(lambda: producer.available)
        kafka = FakeKafka.instances[-1]
        async with httpx.AsyncClient(timeout=10) as http:
            upstream = Upstream(receiver.url, http)
            held = [asyncio.create_task(upstream.invoke("send", n)) for n in range(2)]
            await until(lambda: len(kafka.waiting) >= 2)
            refused = await upstream.invoke("send", "one too many")
            assert refused.status_code == 503
            assert refused.json()["reason"] == "overloaded"
            kafka.confirm_all()
            assert [(await t).status_code for t in held] == [204, 204]
            again = asyncio.create_task(upstream.invoke("send", "room again"))
            await until(lambda: len(kafka.waiting) >= 3)  # taken: the cap counts only requests in flight
            kafka.confirm_all()
            assert (await again).status_code == 204
        sample = metrics.registry.get_sample_value(
            UPSTREAM_REQUESTS,
            {"hub": "chat", "category": "messages", "event": "other", "outcome": "overloaded"},
        )
        assert sample == 1
    finally:
        FakeKafka.instances[-1].confirm_all()
        await receiver.stop(drain_timeout=1)
