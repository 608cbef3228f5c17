"""``dlq replay``: send dead-lettered records through the routes again.

Reads the dead-letter topic up to where it ended when the replay started, rebuilds each
source record from its ``bridge.source.*`` headers, routes and delivers it. A record that
fails again is written back to the dead-letter topic with fresh error headers (it lies past
the replay's end, so one run never loops). Progress is committed in its own consumer group
(``<group_id>-dlq-replay`` unless given), so a second run continues where the first stopped.
``dry_run`` prints what would be sent and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.config import BridgeConfig
from bridge.pipeline.deadletter import Failure, dead_letter_headers, failure_from, original_record
from bridge.pipeline.kafka_app import aiokafka_security
from bridge.pipeline.signalr_client import client_from_config
from bridge.routing import Record, Router, RoutingError, compile_routes, request_for
from bridge.signalr.errors import PreflightError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplaySummary:
    replayed: int = 0
    failed_again: int = 0
    skipped: int = 0


class ReplayError(RuntimeError):
    """The replay cannot start (no dead-letter topic configured, topic missing)."""


async def replay_dead_letters(
    config: BridgeConfig,
    *,
    dry_run: bool = False,
    group: str | None = None,
    report: Callable[[str], None] = print,
) -> ReplaySummary:
    topic = config.dead_letter.topic
    if topic is None:
        raise ReplayError("the config has no dead_letter.topic to replay")
    router = compile_routes(config)
    kafka = config.kafka
    consumer = AIOKafkaConsumer(
        bootstrap_servers=list(kafka.bootstrap_servers),
        group_id=group or f"{kafka.group_id}-dlq-replay",
        client_id=f"{kafka.client_id}-dlq-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aiokafka_security(kafka),
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in await _partitions(config, topic)]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        if dry_run:
            return await _dry_run(consumer, ends, router, config, report)
        return await _replay(consumer, ends, router, config, report)
    finally:
        await consumer.stop()


async def _partitions(config: BridgeConfig, topic: str) -> list[int]:
    # A consumer only knows the metadata of topics it subscribes to; ask an admin client instead.
    admin = AIOKafkaAdminClient(
        bootstrap_servers=list(config.kafka.bootstrap_servers), **aiokafka_security(config.kafka)
    )
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [p["partition"] for t in described if t["topic"] == topic for p in t["partitions"]]
    if not partitions:
        raise ReplayError(f'dead-letter topic "{topic}" does not exist')
    return sorted(partitions)


async def _records(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]
) -> AsyncIterator[tuple[TopicPartition, int, Record]]:
    """Every dead-lettered record below the end offsets taken at the start, as its source record."""
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000)
        for tp, messages in batch.items():
            for message in messages:
                if message.offset < ends[tp]:
                    yield tp, message.offset, original_record(_as_record(message))
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)


def _as_record(message: ConsumerRecord[bytes, bytes]) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=message.timestamp,
        key=message.key,
        value=message.value,
        headers=tuple(message.headers or ()),
    )


def _where(record: Record) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"


async def _dry_run(
    consumer: AIOKafkaConsumer,
    ends: dict[TopicPartition, int],
    router: Router,
    config: BridgeConfig,
    report: Callable[[str], None],
) -> ReplaySummary:
    summary = ReplaySummary()
    async for _, _, record in _records(consumer, ends):
        try:
            requests = [request_for(config.signalr, item.action) for item in router.route(record)]
        except (RoutingError, PreflightError) as exc:
            summary.failed_again += 1
            report(f"{_where(record)}: would fail again: {exc}")
            continue
        if not requests:
            summary.skipped += 1
            report(f"{_where(record)}: no route wants it now; would be skipped")
            continue
        summary.replayed += 1
        for request in requests:
            report(f"{_where(record)}: would send {request.method} {request.path}")
    return summary


async def _replay(
    consumer: AIOKafkaConsumer,
    ends: dict[TopicPartition, int],
    router: Router,
    config: BridgeConfig,
    report: Callable[[str], None],
) -> ReplaySummary:
    topic = config.dead_letter.topic
    assert topic is not None
    summary = ReplaySummary()
    producer = AIOKafkaProducer(
        bootstrap_servers=list(config.kafka.bootstrap_servers), acks="all", **aiokafka_security(config.kafka)
    )
    async with client_from_config(config.signalr) as client:
        await producer.start()
        try:
            async for tp, offset, record in _records(consumer, ends):
                failure: Failure | None = None
                try:
                    routed = router.route(record)
                except RoutingError as exc:
                    failure = Failure(reason=exc.reason.value, detail=str(exc), route=exc.route)
                    routed = []
                for item in routed:
                    result = await client.deliver(item.action)
                    if not result.ok:
                        failure = failure_from(result, item.route)
                        break
                if failure is not None:
                    # Back to the dead-letter topic, confirmed, before the replay's offset moves.
                    await producer.send_and_wait(
                        topic, record.value, key=record.key, headers=dead_letter_headers(record, failure)
                    )
                    summary.failed_again += 1
                    report(f"{_where(record)}: failed again ({failure.reason}): {failure.detail}")
                elif routed:
                    summary.replayed += 1
                    report(f"{_where(record)}: delivered ({len(routed)} action(s))")
                else:
                    summary.skipped += 1
                    report(f"{_where(record)}: no route wants it now; skipped")
                await consumer.commit({tp: offset + 1})
        finally:
            await producer.stop()
    return summary
