"""Crashes, graceful stops and scale-out: nothing is lost, duplicates stay within what was uncommitted."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
from e2e_support import (
    BridgeProcess,
    HubListener,
    committed_offsets,
    counting_config,
    create_topic,
    produce,
    record,
)

from bridge.emulator import EmulatorServer

pytestmark = pytest.mark.e2e


def records(start: int, stop: int, keys: int = 30) -> list[tuple[bytes, bytes]]:
    return [record(f"k{i % keys}", i) for i in range(start, stop)]


def positions(messages: list[tuple[str, list]]) -> list[tuple[int, int]]:
    """(partition, offset) of each delivered message, in arrival order."""
    return [(int(args[2]), int(args[3])) for _, args in messages]


def metric_value(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} is not exported")


def assigned_partitions(bridge: BridgeProcess) -> set[int]:
    """The partitions the bridge was last given, from its own structured log."""
    latest: set[int] = set()
    for line in bridge.log.read_text().splitlines():
        if '"partitions assigned"' in line:
            entries = json.loads(line)["partitions"]
            latest = {int(entry.rsplit("partition=", 1)[1].rstrip(")")) for entry in entries}
    return latest


async def test_sigkill_mid_stream_loses_nothing_and_redelivers_only_uncommitted_records(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq, group = unique.topic(), unique.topic("dlq"), unique.group()
    await create_topic(bootstrap_servers, topic, 3)
    emulator.faults.inject(None, latency_ms=5)
    total = 1500
    await produce(bootstrap_servers, topic, records(0, total))
    config = counting_config(group, topic, dlq, in_flight=100)

    first = bridges(config)
    await listener.wait_for(400, timeout=120)
    first.signal(signal.SIGKILL)
    await first.wait_exit()
    delivered_before_kill = positions(listener.messages)
    committed = await committed_offsets(bootstrap_servers, group, topic, 3)

    second = bridges(config)
    deadline = asyncio.get_running_loop().time() + 180
    while len(set(positions(listener.messages))) < total:
        assert asyncio.get_running_loop().time() < deadline, "records were lost after the restart"
        await asyncio.sleep(0.5)

    delivered = positions(listener.messages)
    assert len(set(delivered)) == total
    duplicates = len(delivered) - total
    uncommitted_at_kill = {p for p in set(delivered_before_kill) if p[1] >= committed[p[0]]}
    redelivered = {p for p in set(delivered) if delivered.count(p) > 1}
    # Only records whose offsets were not yet committed may come twice, and at most once more.
    assert redelivered <= uncommitted_at_kill
    assert duplicates <= len(uncommitted_at_kill)
    assert metric_value(await second.metrics(), "signalr_bridge_offset_commits_total") >= 1
    print(
        f"\nSIGKILL after {len(delivered_before_kill)} deliveries: committed {sum(committed.values())}, "
        f"uncommitted-but-delivered {len(uncommitted_at_kill)}, duplicates {duplicates}"
    )


async def test_sigterm_drains_in_flight_commits_and_exits_0(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq, group = unique.topic(), unique.topic("dlq"), unique.group()
    await create_topic(bootstrap_servers, topic, 3)
    emulator.faults.inject(None, latency_ms=200)  # deliveries take long enough to be caught in flight
    await produce(bootstrap_servers, topic, records(0, 300, keys=40))
    config = counting_config(group, topic, dlq, in_flight=40, drain=20)

    bridge = bridges(config)
    await listener.wait_for(40, timeout=120)
    bridge.signal(signal.SIGTERM)
    assert await bridge.wait_exit(timeout=40) == 0
    in_flight_drained = "draining" in bridge.log.read_text()
    assert in_flight_drained
    delivered = positions(listener.messages)
    committed = await committed_offsets(bootstrap_servers, group, topic, 3)
    # Everything delivered was committed, and nothing uncommitted was delivered: no gap either way.
    assert sum(committed.values()) == len(set(delivered)) == len(delivered)
    assert all(offset < committed[partition] for partition, offset in delivered)

    emulator.faults.clear()
    bridges(config)
    await listener.wait_for(300, timeout=120)
    await asyncio.sleep(2)  # a redelivery would arrive now
    assert sorted(positions(listener.messages)) == sorted(set(positions(listener.messages)))
    assert len(listener.messages) == 300


async def test_two_bridges_share_partitions_and_one_takes_over_when_the_other_stops(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq, group = unique.topic(), unique.topic("dlq"), unique.group()
    await create_topic(bootstrap_servers, topic, 4)
    emulator.faults.inject(None, latency_ms=5)
    config = counting_config(group, topic, dlq, in_flight=50)
    a = bridges(config)
    await a.wait_ready()
    b = bridges(config)
    await b.wait_ready()
    deadline = asyncio.get_running_loop().time() + 60
    while not (assigned_partitions(a) and assigned_partitions(b)):
        assert asyncio.get_running_loop().time() < deadline, "the group never split the partitions"
        await asyncio.sleep(0.5)
    assert assigned_partitions(a) | assigned_partitions(b) == {0, 1, 2, 3}
    assert not assigned_partitions(a) & assigned_partitions(b)

    await produce(bootstrap_servers, topic, records(0, 600, keys=40))
    await listener.wait_for(150, timeout=120)
    a.signal(signal.SIGTERM)
    assert await a.wait_exit() == 0
    await produce(bootstrap_servers, topic, records(600, 1000, keys=40))

    deadline = asyncio.get_running_loop().time() + 120
    while len(set(positions(listener.messages))) < 1000:
        assert asyncio.get_running_loop().time() < deadline, "records were lost when a bridge left"
        await asyncio.sleep(0.5)
    assert assigned_partitions(b) == {0, 1, 2, 3}
    assert sorted({int(args[1]) for _, args in listener.messages}) == list(range(1000))
