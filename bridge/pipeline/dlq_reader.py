"""Read the dead-letter topic without joining a group: ``dlq list`` / ``dlq show`` (and ``dlq replay``).

Reads up to where each partition ended when the read started, so a busy topic cannot keep
a read going. Keeps only the newest ``limit`` matches per partition (memory stays bounded
on a topic of any size); without a reason or route filter it starts ``limit`` records
before the end instead of reading the whole topic.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bridge.config.schema import KafkaConfig
from bridge.pipeline.deadletter import PREFIX, error_headers
from bridge.pipeline.kafka_app import aiokafka_security
from bridge.routing import Record


class DeadLetterTopicMissingError(RuntimeError):
    """The dead-letter topic does not exist (yet): nothing was ever dead-lettered there."""


async def partitions_of(kafka: KafkaConfig, topic: str) -> list[int]:
    """The topic's partitions; raises :class:`DeadLetterTopicMissingError` when it does not exist."""
    # A consumer only knows the metadata of topics it subscribes to; ask an admin client instead.
    admin = AIOKafkaAdminClient(bootstrap_servers=list(kafka.bootstrap_servers), **aiokafka_security(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [p["partition"] for t in described if t["topic"] == topic for p in t["partitions"]]
    if not partitions:
        raise DeadLetterTopicMissingError(f'topic "{topic}" does not exist')
    return sorted(partitions)


def as_record(message: ConsumerRecord[bytes, bytes]) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=message.timestamp,
        key=message.key,
        value=message.value,
        headers=tuple((k, bytes(v or b"")) for k, v in (message.headers or ())),
    )


async def messages_until(
    consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]
) -> AsyncIterator[tuple[TopicPartition, Record]]:
    """Every record from the consumer's positions up to ``ends`` (exclusive), per partition in order."""
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000)
        for tp, messages in batch.items():
            for message in messages:
                if message.offset < ends[tp]:
                    yield tp, as_record(message)
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of the dead-letter topic, with its ``bridge.*`` facts decoded."""

    record: Record

    @property
    def facts(self) -> Mapping[str, str]:
        return error_headers(self.record.headers)

    @property
    def reason(self) -> str:
        return self.facts.get("error.reason", "")

    @property
    def route(self) -> str:
        return self.facts.get("error.route", "")

    @property
    def where(self) -> str:
        """``partition@offset``: how ``dlq show`` names it."""
        return f"{self.record.partition}@{self.record.offset}"

    def as_json(self) -> dict[str, Any]:
        """Everything about the record, for scripts: the value decoded where possible."""
        record = self.record
        value_format, value = decode_value(record.value)
        key_format, key = decode_value(record.key, parse_json=False)
        return {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": record.timestamp_ms,
            "key": key,
            "key_format": key_format,
            "value": value,
            "value_format": value_format,
            "headers": {
                name: decode_value(v, parse_json=False)[1]
                for name, v in record.headers
                if not name.startswith(PREFIX)
            },
            "bridge": {PREFIX + name: text for name, text in self.facts.items()},
        }


def decode_value(data: bytes | None, *, parse_json: bool = True) -> tuple[str, Any]:
    """``(format, value)``: ``json`` (parsed), ``text`` (UTF-8), ``base64`` (other bytes) or ``null``."""
    if data is None:
        return "null", None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(data).decode("ascii")
    if parse_json:
        try:
            return "json", json.loads(text)
        except ValueError:
            pass
    return "text", text


@dataclass(frozen=True, slots=True)
class DeadLetterQuery:
    """Which dead letters to read. Times are epoch milliseconds of the dead-letter write."""

    reasons: frozenset[str] = frozenset()
    routes: frozenset[str] = frozenset()
    since_ms: int | None = None
    until_ms: int | None = None
    at: Collection[tuple[int, int]] = field(default=())  # (partition, offset) pairs; others ignored
    limit: int = 20

    def matches(self, dead: DeadLetter) -> bool:
        timestamp = dead.record.timestamp_ms or 0
        return (
            (not self.reasons or dead.reason in self.reasons)
            and (not self.routes or dead.route in self.routes)
            and (self.since_ms is None or timestamp >= self.since_ms)
            and (self.until_ms is None or timestamp < self.until_ms)
            and (not self.at or (dead.record.partition, dead.record.offset) in self.at)
        )

    @property
    def scans(self) -> bool:
        """True when matches can be anywhere in the topic, so it must be read from the start."""
        return bool(self.reasons or self.routes or self.at or self.until_ms is not None)


async def read_dead_letters(kafka: KafkaConfig, topic: str, query: DeadLetterQuery) -> list[DeadLetter]:
    """The newest ``query.limit`` matching dead letters, oldest first."""
    partitions = await partitions_of(kafka, topic)
    if query.at:
        wanted = {p for p, _ in query.at}
        partitions = [p for p in partitions if p in wanted]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=list(kafka.bootstrap_servers),
        group_id=None,
        client_id=f"{kafka.client_id}-dlq-reader",
        enable_auto_commit=False,
        **aiokafka_security(kafka),
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        await _seek_to_start(consumer, query, ends)
        kept: dict[int, deque[DeadLetter]] = {p: deque(maxlen=query.limit) for p in partitions}
        async for tp, record in messages_until(consumer, ends):
            dead = DeadLetter(record)
            if query.matches(dead):
                kept[tp.partition].append(dead)
    finally:
        await consumer.stop()
    found = sorted(
        (dead for per_partition in kept.values() for dead in per_partition),
        key=lambda d: (d.record.timestamp_ms or 0, d.record.partition, d.record.offset),
    )
    return found[-query.limit :] if query.limit else []


async def _seek_to_start(
    consumer: AIOKafkaConsumer, query: DeadLetterQuery, ends: Mapping[TopicPartition, int]
) -> None:
    starts = await consumer.beginning_offsets(list(ends))
    if query.at:
        for tp in ends:
            offsets = [o for p, o in query.at if p == tp.partition]
            starts[tp] = max(starts[tp], min(offsets))
    elif not query.scans:
        for tp, end in ends.items():
            starts[tp] = max(starts[tp], end - query.limit)
    if query.since_ms is not None:
        found = await consumer.offsets_for_times(dict.fromkeys(ends, query.since_ms))
        for tp, end in ends.items():
            at = found.get(tp)
            starts[tp] = max(starts[tp], at.offset if at is not None else end)
    for tp, offset in starts.items():
        consumer.seek(tp, offset)
