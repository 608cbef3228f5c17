"""``produce`` and ``dlq list`` / ``dlq show`` against a real broker, as a user runs them."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bridge.cli import main
from bridge.pipeline.deadletter import Failure, dead_letter_headers
from bridge.routing import Record

pytestmark = pytest.mark.integration

CONFIG = """\
kafka: {{bootstrap_servers: "{servers}"}}
signalr: {{hub: chat}}
dead_letter: {{topic: {dlq}}}
routes:
  - name: rooms
    topics: [{topic}]
    actions: [{{send: {{target: t, all: true, arguments: ["{{value.text}}"]}}}}]
"""
HOUR_MS = 3_600_000
T0 = int(datetime(2026, 11, 30, 7, 33, 20, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
def config(bootstrap_servers: str, unique: Any, tmp_path: Path) -> tuple[Path, str, str]:
    topic, dlq = unique.topic(), unique.topic("dlq")
    path = tmp_path / "bridge.yaml"
    path.write_text(CONFIG.format(servers=bootstrap_servers, topic=topic, dlq=dlq))
    asyncio.run(_create(bootstrap_servers, [topic, dlq]))
    return path, topic, dlq


async def _create(servers: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, num_partitions=2, replication_factor=1) for t in topics])
    finally:
        await admin.close()


async def _read(servers: str, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers, auto_offset_reset="earliest")
    await consumer.start()
    found: list[Any] = []
    try:
        async with asyncio.timeout(30):
            while len(found) < count:
                for part in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(part)
    finally:
        await consumer.stop()
    return sorted(found, key=lambda r: (r.timestamp, r.partition, r.offset))


def test_produce_one_value_a_file_and_stdin(
    config: tuple[Path, str, str],
    bootstrap_servers: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, topic, _ = config
    argv = ["produce", "--config", str(path), "--topic", topic, "--key", "room-1", "-H", "trace=a=b"]
    assert main([*argv, "--value", '{"text": "one"}']) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"produced 1 record to {topic}[")
    assert out.endswith("]@0\n")

    lines = tmp_path / "values.jsonl"
    lines.write_text('{"text": "two"}\n\n{"text": "three"}\r\n')
    assert main([*argv, "--file", str(lines)]) == 0
    assert capsys.readouterr().out == f"produced 2 records to {topic}\n"

    monkeypatch.setattr("sys.stdin", io.StringIO("not json\n"))
    assert main([*argv, "-"]) == 0
    capsys.readouterr()

    records = asyncio.run(_read(bootstrap_servers, topic, 4))
    assert [r.value for r in records] == [
        b'{"text": "one"}',
        b'{"text": "two"}',
        b'{"text": "three"}',
        b"not json",
    ]
    assert {r.key for r in records} == {b"room-1"}
    assert {tuple(r.headers) for r in records} == {(("trace", b"a=b"),)}
    assert len({r.partition for r in records}) == 1, "one key, one partition"


def test_produce_without_kafka_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(CONFIG.format(servers="127.0.0.1:1", topic="t", dlq="d"))
    assert main(["produce", "--config", str(path), "--topic", "t", "--value", "{}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("signalr-bridge produce: Kafka at 127.0.0.1:1: ")
    assert err.count("\n") == 1


async def _dead_letter(servers: str, dlq: str, cases: list[tuple[int, str, str, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        for offset, (timestamp, reason, route, value) in enumerate(cases):
            record = Record(topic="chat", partition=0, offset=offset, timestamp_ms=timestamp - 10, key=b"k",
                            value=value, headers=(("trace", b"t-%d" % offset),))  # fmt: skip
            failure = Failure(reason=reason, detail=f"{reason} #{offset}", route=route)
            headers = dead_letter_headers(record, failure, now_ms=timestamp)
            await producer.send_and_wait(
                dlq, value, key=b"k", partition=offset % 2, timestamp_ms=timestamp, headers=headers
            )
    finally:
        await producer.stop()


def test_dlq_list_filters_by_reason_route_and_time(
    config: tuple[Path, str, str], bootstrap_servers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, dlq = config
    cases = [
        (T0, "decode_error", "rooms", b"{broken"),
        (T0 + HOUR_MS, "missing_field", "rooms", b'{"room": 1}'),
        (T0 + 2 * HOUR_MS, "rejected", "alerts", b'{"text": "x"}'),
        (T0 + 3 * HOUR_MS, "decode_error", "alerts", b"\xff\xfe"),
    ]
    asyncio.run(_dead_letter(bootstrap_servers, dlq, cases))
    base = ["dlq", "list", "--config", str(path)]

    def listed(*options: str) -> list[str]:
        assert main([*base, *options]) == 0
        lines = capsys.readouterr().out.splitlines()
        return [line.split()[0] for line in lines[1:]]  # PARTITION@OFFSET, oldest first

    assert listed() == ["0@0", "1@0", "0@1", "1@1"]
    assert listed("--reason", "decode_error") == ["0@0", "1@1"]
    assert listed("--route", "alerts") == ["0@1", "1@1"]
    assert listed("--reason", "decode_error", "--route", "rooms") == ["0@0"]
    assert listed("--since", "2026-11-30T08:33:20+00:00") == ["1@0", "0@1", "1@1"]
    assert listed("--until", "2026-11-30T09:33:20Z") == ["0@0", "1@0"]
    assert listed("--limit", "2") == ["0@1", "1@1"]
    assert main([*base, "--reason", "expression_error"]) == 0
    assert capsys.readouterr().err == f"no dead-lettered record in {dlq} matches\n"

    assert main([*base, "--limit", "1"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == ["WHERE", "DEAD-LETTERED", "(UTC)", "REASON", "ROUTE", "SOURCE", "DETAIL"]
    assert line.split() == [
        "1@1",
        "2026-11-30",
        "10:33:20",
        "decode_error",
        "alerts",
        "chat[0]@3",
        "decode_error",
        "#3",
    ]


def test_dlq_show_prints_key_value_and_every_bridge_header(
    config: tuple[Path, str, str], bootstrap_servers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, dlq = config
    cases = [(T0, "decode_error", "rooms", b"{broken"), (T0 + 1, "rejected", "rooms", b'{"text":"hi"}')]
    asyncio.run(_dead_letter(bootstrap_servers, dlq, cases))
    assert main(["dlq", "show", "--config", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"{dlq} 1@0, dead-lettered 2026-11-30 07:33:20 UTC\n"
        "  reason:  rejected\n"
        "  route:   rooms\n"
        "  detail:  rejected #1\n"
        "  source:  chat[0]@1, produced 2026-11-30 07:33:19 UTC\n"
        "  key:     k\n"
        "  value:   {\n"
        '             "text": "hi"\n'
        "           }\n"
        "  headers: trace=t-1\n"
        "  bridge.error.reason      rejected\n"
        "  bridge.error.detail      rejected #1\n"
        "  bridge.error.route       rooms\n"
        "  bridge.error.attempts    0\n"
        "  bridge.source.topic      chat\n"
        "  bridge.source.partition  0\n"
        "  bridge.source.offset     1\n"
        f"  bridge.source.timestamp  {T0 + 1 - 10} (2026-11-30 07:33:19 UTC)\n"
        f"  bridge.failed_at         {T0 + 1} (2026-11-30 07:33:20 UTC)\n"
    )
    assert main(["dlq", "show", "--config", str(path), "0@0", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["partition"], shown["offset"], shown["value"], shown["value_format"]) == (
        0,
        0,
        "{broken",
        "text",
    )
    assert shown["headers"] == {"trace": "t-0"}
    assert shown["bridge"]["bridge.error.reason"] == "decode_error"
    assert main(["dlq", "show", "--config", str(path), "0@7"]) == 1
    assert capsys.readouterr().err == f"no dead-lettered record in {dlq} matches\n"


def test_dlq_tools_without_a_dead_letter_topic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(
        CONFIG.format(servers="127.0.0.1:1", topic="t", dlq="d").replace("dead_letter: {topic: d}\n", "")
    )
    assert main(["dlq", "list", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"signalr-bridge dlq: {path} has no dead_letter.topic: failed records are logged and skipped\n"
    )
