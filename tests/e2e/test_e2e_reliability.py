"""What users rely on: order per key, poison records dead-lettered, outages survived."""

from __future__ import annotations

import asyncio
import random

import pytest
from e2e_support import (
    HubListener,
    counting_config,
    create_topic,
    dead_lettered,
    jsonb,
    produce,
    read_topic,
    record,
)

from bridge.emulator import EmulatorServer

pytestmark = pytest.mark.e2e


def by_key(messages: list[tuple[str, list]]) -> dict[str, list[int]]:
    result: dict[str, list[int]] = {}
    for _, (key, seq, *_rest) in messages:
        result.setdefault(key, []).append(int(seq))
    return result


async def test_order_per_key_holds_under_parallel_delivery(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 3)
    # Every REST call takes 2-20 ms: parallel deliveries overtake each other unless lanes hold them.
    emulator.faults.inject(None, latency_ms=10)
    keys = [f"key-{i}" for i in range(24)]
    records = [record(key, seq) for seq in range(40) for key in keys]
    random.Random(7).shuffle(records)  # interleave keys, yet keep each key's own order below
    ordered: dict[str, int] = {}
    sequenced = []
    for key, _ in records:
        seq = ordered.get(key.decode(), 0)
        ordered[key.decode()] = seq + 1
        sequenced.append((key, jsonb({"to": "watcher", "seq": seq, "text": ""})))
    await produce(bootstrap_servers, topic, sequenced)
    bridge = bridges(counting_config(unique.group(), topic, dlq))
    await bridge.wait_ready()
    messages = await listener.wait_for(len(records), timeout=120)
    assert by_key(messages) == {key: list(range(40)) for key in keys}
    # Parallel: keys interleave in arrival order (a serial bridge would still pass the check above).
    first_keys = [key for _, (key, *_r) in messages[:48]]
    assert len(set(first_keys)) > 3


async def test_poison_records_are_dead_lettered_and_the_stream_goes_on(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 1)
    bridge = bridges(counting_config(unique.group(), topic, dlq, ordering="partition"))
    await bridge.wait_ready()
    # The next send answers 400 (health probes do not count): it belongs to the record
    # "rejected" below, since every record before it fails before any request is made.
    emulator.faults.inject(1, 400, error_code="Error.Test.Rejected", path_contains="/users/")
    poison = [
        (b"p", b"{not json", [("trace", b"t-1")]),
        (b"p", jsonb({"seq": 1, "text": "no recipient"}), []),
        (b"p", jsonb({"to": "watcher", "seq": 2, "text": "rejected"}), []),
        (b"p", jsonb({"to": "watcher", "seq": 3, "text": "x" * 600_000}), []),  # body over 1 MB
    ]
    for key, value, headers in poison:
        await produce(bootstrap_servers, topic, [(key, value)], headers=headers)
    await produce(bootstrap_servers, topic, [record("p", seq) for seq in range(4, 14)])

    delivered = await listener.wait_for(10)
    assert [int(args[1]) for _, args in delivered] == list(range(4, 14))

    dead = await read_topic(bootstrap_servers, dlq, 4)
    assert len(dead) == 4
    assert [r.value for r in dead] == [value for _, value, _ in poison]
    assert all(r.key == b"p" for r in dead)
    headers = [{k: v.decode() for k, v in r.headers} for r in dead]
    assert [h["bridge.error.reason"] for h in headers] == [
        "decode_error",
        "missing_field",
        "rejected",
        "rejected",
    ]
    assert headers[0]["trace"] == "t-1", "the original headers travel with the record"
    assert headers[2]["bridge.error.http_status"] == "400"
    assert headers[2]["bridge.error.code"] == "Error.Test.Rejected"
    assert "1 MB" in headers[3]["bridge.error.detail"] or "1048576" in headers[3]["bridge.error.detail"]
    for offset, h in enumerate(headers):
        assert h["bridge.source.topic"] == topic
        assert h["bridge.source.partition"] == "0"
        assert h["bridge.source.offset"] == str(offset)
        assert int(h["bridge.source.timestamp"]) > 0
    assert all(h["bridge.error.route"] == "counted" for h in headers)
    metrics = await bridge.metrics()
    assert 'signalr_bridge_dead_lettered_total{reason="decode_error",route="counted"} 1.0' in metrics


async def test_a_30_second_outage_loses_nothing_and_dead_letters_nothing(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 3)
    bridge = bridges(counting_config(unique.group(), topic, dlq, in_flight=50))
    await bridge.wait_ready()
    await produce(bootstrap_servers, topic, [record(f"k{i % 6}", i) for i in range(30)])
    await listener.wait_for(30)

    # The service stops answering: every REST request (health probes included) is dropped.
    emulator.faults.inject(10**9, drop=True)
    await produce(bootstrap_servers, topic, [record(f"k{i % 6}", i) for i in range(30, 330)])
    await asyncio.sleep(30)
    assert len(listener.messages) == 30
    emulator.faults.clear()

    messages = await listener.wait_for(330, timeout=120)
    assert sorted(int(args[1]) for _, args in messages) == list(range(330))
    for key, seqs in by_key(messages).items():
        assert seqs == sorted(seqs), f"order broke for {key}"
    metrics = await bridge.metrics()
    assert dead_lettered(metrics), "the series exist from the start"
    assert set(dead_lettered(metrics)) == {0.0}
    assert await read_topic(bootstrap_servers, dlq, 0, timeout=5) == []
