"""The persistent transport end to end: order per key over several connections, and at-least-once
through dropped connections, a killed and restarted service, a killed bridge and a refused handshake."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import (
    HUB,
    BridgeProcess,
    HubListener,
    committed_offsets,
    counting_config,
    create_topic,
    dead_lettered,
    jsonb,
    produce,
    read_topic,
    record,
    token_for,
)

from bridge.emulator import EmulatorServer

pytestmark = pytest.mark.e2e


def config(group: str, topic: str, dlq: str, **kw: Any) -> str:
    return counting_config(group, topic, dlq, transport="persistent", **kw)


def seqs(messages: list[tuple[str, list[Any]]]) -> list[int]:
    return [int(args[1]) for _, args in messages]


def logged(emulator: EmulatorServer) -> list[int]:
    """Sequence numbers the emulator handed to the watcher's connection (its message log)."""
    return [int(m["arguments"][1]) for m in emulator.state()["messages"] if m["userId"] == "watcher"]


async def until(check: Any, what: str, timeout: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.2)


async def test_order_per_key_holds_across_four_connections_under_ack_delay(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 3)
    emulator.server_faults.delay_acks(15)  # every confirmation takes a while: lanes overlap
    keys = [f"key-{i}" for i in range(24)]
    ordered = [record(key, seq) for seq in range(40) for key in keys]
    shuffled = ordered[:]
    random.Random(3).shuffle(shuffled)
    counters: Counter[bytes] = Counter()
    produced = []
    for key, _ in shuffled:  # interleave keys, keep each key's own order in its seq numbers
        produced.append((key, jsonb({"to": "watcher", "seq": counters[key], "text": ""})))
        counters[key] += 1
    await produce(bootstrap_servers, topic, produced)
    bridge = bridges(config(unique.group(), topic, dlq, connections=4))
    await bridge.wait_ready()
    messages = await listener.wait_for(len(produced), timeout=180)
    by_key: dict[str, list[int]] = {}
    for _, (key, seq, *_rest) in messages:
        by_key.setdefault(key, []).append(int(seq))
    assert by_key == {key: list(range(40)) for key in keys}
    carried = [s for s in emulator.state()["serverConnections"] if s["received"].get("8")]
    assert len(carried) == 4, "every connection carried some keys"
    assert "signalr_bridge_barrier_round_trip_seconds_count" in await bridge.metrics()


async def test_connections_dropped_mid_stream_lose_nothing(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 3)
    total = 1500
    await produce(bootstrap_servers, topic, [record(f"k{i % 30}", i) for i in range(total)])
    bridge = bridges(config(unique.group(), topic, dlq, in_flight=100))
    await listener.wait_for(300, timeout=120)
    assert emulator.servers.drop() == 4
    await listener.wait_for(900, timeout=120)
    emulator.server_faults.drop_after(50)  # this time mid-batch: read, then cut before the barrier
    await until(lambda: set(seqs(listener.messages)) == set(range(total)), "records were lost")
    duplicates = len(listener.messages) - total
    metrics = await bridge.metrics()
    assert 'signalr_bridge_server_reconnects_total{endpoint="' in metrics
    assert await read_topic(bootstrap_servers, dlq, 0, timeout=5) == []
    print(f"\ndropped connections twice: {total} delivered, {duplicates} duplicates")


async def test_the_service_killed_and_restarted_on_the_same_port_loses_nothing(
    bootstrap_servers: str, kafka_broker: Any, tmp_path: Path, unique
) -> None:
    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 3)
    total = 1500
    old = EmulatorServer(test_hooks=True)
    await old.start()
    port, key = old.port, old.access_key
    first = await HubListener().connect(token_for(old.connection_string, HUB, "watcher"))
    env = {
        "AzureSignalRConnectionString": old.connection_string,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
    }
    bridge = BridgeProcess(config(unique.group(), topic, dlq, in_flight=100), tmp_path, env).start()
    new = EmulatorServer(port=port, access_key=key, test_hooks=True)
    second: HubListener | None = None
    try:
        await produce(bootstrap_servers, topic, [record(f"k{i % 30}", i) for i in range(total)])
        await first.wait_for(300, timeout=120)
        await old.kill()
        # The new service refuses the bridge until the watcher is back, so nothing goes to nobody.
        new.server_faults.refuse_handshakes("starting up")
        await new.start()
        second = await HubListener().connect(token_for(new.connection_string, HUB, "watcher"))
        await until(lambda: new.server_faults.refused > 0, "the bridge never came back")
        new.server_faults.clear()
        await until(lambda: set(logged(old)) | set(logged(new)) == set(range(total)), "records were lost")
        accepted = logged(old) + logged(new)
        print(f"\nservice killed after {len(logged(old))}: {len(accepted) - total} duplicates")
        assert await read_topic(bootstrap_servers, dlq, 0, timeout=5) == []
    finally:
        bridge.stop()
        for client in (first, second):
            if client is not None:
                await client.close()
        await new.stop()


async def test_sigkill_of_the_bridge_loses_nothing(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq, group = unique.topic(), unique.topic("dlq"), unique.group()
    await create_topic(bootstrap_servers, topic, 3)
    emulator.server_faults.delay_acks(5)
    total = 1500
    await produce(bootstrap_servers, topic, [record(f"k{i % 30}", i) for i in range(total)])
    first = bridges(config(group, topic, dlq, in_flight=100))
    await listener.wait_for(400, timeout=120)
    first.signal(signal.SIGKILL)
    await first.wait_exit()
    before = len(listener.messages)
    committed = sum((await committed_offsets(bootstrap_servers, group, topic, 3)).values())
    bridges(config(group, topic, dlq, in_flight=100))
    await until(lambda: set(seqs(listener.messages)) == set(range(total)), "records were lost", 180)
    duplicates = len(listener.messages) - total
    assert duplicates <= before - committed, "only what was delivered but not committed comes twice"
    print(f"\nSIGKILL after {before} deliveries, {committed} committed: {duplicates} duplicates")


async def test_a_refused_handshake_makes_the_bridge_unready_says_why_once_and_dead_letters_nothing(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 1)
    emulator.server_faults.refuse_handshakes("The hub is in Default mode and has no app server.")
    await produce(bootstrap_servers, topic, [record("k", i) for i in range(20)])
    bridge = bridges(config(unique.group(), topic, dlq, connections=2))
    # Several dials are refused while records wait (their retry budget, 5 s, runs out meanwhile).
    await until(lambda: emulator.server_faults.refused >= 6, "the bridge stopped dialling", 60)
    async with httpx.AsyncClient() as http:
        ready = await http.get(bridge.url + "/readyz")
    assert ready.status_code == 503
    assert "no SignalR endpoint up" in ready.json()["reasons"]
    down = [line for line in bridge.log.read_text().splitlines() if "is down" in line]
    assert len(down) == 1, down
    assert "Default mode" in down[0]
    assert listener.messages == []
    emulator.server_faults.clear()
    messages = await listener.wait_for(20, timeout=120)
    assert sorted(seqs(messages)) == list(range(20))
    assert await read_topic(bootstrap_servers, dlq, 0, timeout=5) == []
    assert set(dead_lettered(await bridge.metrics())) == {0.0}
