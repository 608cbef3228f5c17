"""The record processor's promises, with a scripted SignalR client and dead-letter sink."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.config import load_config_text
from bridge.observability import metrics as m
from bridge.observability.metrics import BridgeMetrics
from bridge.pipeline.deadletter import error_headers
from bridge.pipeline.processor import DeadLetterPolicy, RecordProcessor
from bridge.routing import Record, compile_routes
from bridge.signalr.actions import Action
from bridge.signalr.delivery import DeliveryResult
from bridge.signalr.outcome import Outcome

pytestmark = pytest.mark.unit

CONFIG = """
kafka: {bootstrap_servers: "127.0.0.1:9092"}
signalr: {hub: h, connection_string: "Endpoint=http://127.0.0.1;Port=1;AccessKey=k123456789012345678901234567890;Version=1.0;"}
dead_letter: {topic: dlq}
routes:
  - name: r
    topics: [t]
    actions:
      - send: {target: m, userId: "{value.to}", arguments: ["{value.n}"]}
"""


def result(action: Action, outcome: Outcome, reason: str = "ok", status: int | None = 202) -> DeliveryResult:
    return DeliveryResult(
        action=action, outcome=outcome, reason=reason, detail=reason, status=status, attempts=1
    )


class ScriptedClient:
    """Answers each delivery from a script of outcomes; health follows ``online``."""

    def __init__(self, outcomes: Iterator[Outcome]) -> None:
        self.outcomes = outcomes
        self.delivered: list[Any] = []
        self.keys: list[Any] = []
        self.online = True

    async def deliver(self, action: Action, *, key: Any = None) -> DeliveryResult:
        self.keys.append(key)
        outcome = next(self.outcomes, Outcome.DELIVERED)
        if outcome is Outcome.DELIVERED:
            self.delivered.append(action.arguments[0])  # type: ignore[union-attr]
            return result(action, outcome)
        return result(action, outcome, "server-error", 503)

    async def check_health(self) -> dict[str, bool]:
        return {"e": self.online}


class Sink:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.records: list[tuple[str, Record, list[tuple[str, bytes]]]] = []

    async def send(self, topic: str, record: Record, headers: list[tuple[str, bytes]]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unavailable")
        self.records.append((topic, record, headers))


def processor(
    client: ScriptedClient, sink: Sink, *, config_text: str = CONFIG, metrics: BridgeMetrics | None = None
) -> RecordProcessor:
    config = load_config_text(config_text).config
    return RecordProcessor(
        router=compile_routes(config),
        client=client,
        dead_letter=DeadLetterPolicy.from_config(config.dead_letter),
        sink=sink,
        metrics=metrics or BridgeMetrics(process_metrics=False),
        max_in_flight=10,
        max_in_flight_per_partition=10,
        outage_poll_seconds=0.01,
    )


def rec(offset: int, value: bytes) -> Record:
    return Record(topic="t", partition=0, offset=offset, key=b"k", value=value)


async def test_an_offset_moves_only_after_its_dead_letter_write_is_confirmed() -> None:
    client, sink, released = ScriptedClient(iter(())), Sink(failures=2), []
    p = processor(client, sink)
    await p.submit(rec(0, b"{bad json"), lambda: released.append(0))
    await p.submit(rec(1, json.dumps({"to": "u", "n": 1}).encode()), lambda: released.append(1))
    assert await p.drain(within=10)
    assert released == [0, 1]
    [(topic, record, headers)] = sink.records
    assert topic == "dlq"
    assert record.value == b"{bad json"
    assert error_headers(headers)["error.reason"] == "decode_error"
    assert client.delivered == [1]


async def test_each_delivery_names_its_ordering_lane_so_a_transport_can_keep_it_on_one_path() -> None:
    client, sink = ScriptedClient(iter(())), Sink()
    p = processor(client, sink)
    await p.submit(rec(0, json.dumps({"to": "u", "n": 1}).encode()), lambda: None)
    await p.submit(
        Record(topic="t", partition=2, offset=0, key=None, value=b'{"to": "u", "n": 2}'), lambda: None
    )
    assert await p.drain(within=10)
    assert client.keys == [("t", 0, b"k"), None]  # ordering: key; a null key has no order


async def test_an_outage_holds_records_instead_of_dead_lettering_them() -> None:
    client, sink, released = ScriptedClient(iter([Outcome.FAILED_TRANSIENT])), Sink(), []
    client.online = False
    p = processor(client, sink)
    await p.submit(rec(0, json.dumps({"to": "u", "n": 7}).encode()), lambda: released.append(0))
    await asyncio.sleep(0.1)
    assert released == []
    assert sink.records == []
    client.online = True
    assert await p.drain(within=10)
    assert client.delivered == [7]
    assert released == [0]
    assert sink.records == []


async def test_retries_exhausted_while_the_service_is_up_dead_letters_the_record() -> None:
    client, sink, released = ScriptedClient(iter([Outcome.FAILED_TRANSIENT])), Sink(), []
    p = processor(client, sink)
    await p.submit(rec(0, json.dumps({"to": "u", "n": 7}).encode()), lambda: released.append(0))
    assert await p.drain(within=10)
    [(_, _, headers)] = sink.records
    facts = error_headers(headers)
    assert facts["error.reason"] == "retries_exhausted"
    assert facts["error.http_status"] == "503"
    assert released == [0]


async def test_a_failure_without_a_dead_letter_topic_is_skipped_and_counted() -> None:
    client, sink, released = ScriptedClient(iter(())), Sink(), []
    metrics = BridgeMetrics(process_metrics=False)
    p = processor(
        client, sink, config_text=CONFIG.replace("dead_letter: {topic: dlq}\n", ""), metrics=metrics
    )
    await p.submit(rec(0, b"{bad json"), lambda: released.append(0))
    await p.submit(rec(1, json.dumps({"to": "u", "n": 1}).encode()), lambda: released.append(1))
    assert await p.drain(within=10)
    assert released == [0, 1]
    assert sink.records == []
    reg = metrics.registry
    assert reg.get_sample_value(m.RECORDS_DROPPED, {"route": "r", "reason": "decode_error"}) == 1
    assert reg.get_sample_value(m.DEAD_LETTERED, {"route": "r", "reason": "decode_error"}) is None
    assert reg.get_sample_value(m.DELIVERIES, {"route": "r", "outcome": "delivered", "reason": "ok"}) == 1
    [note] = metrics.recent_failures.newest_first()
    assert (note.route, note.reason, note.source, note.dead_lettered) == (
        "r",
        "decode_error",
        "t[0]@0",
        False,
    )
