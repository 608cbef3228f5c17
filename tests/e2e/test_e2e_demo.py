"""The README's main command works: ``make demo``'s stack shows every message, what the client
itself sends comes back through Kafka (the round trip), and Ctrl-C stops it as a user expects."""

from __future__ import annotations

import re
import socket

import pytest
from e2e_support import demo, free_port

pytestmark = pytest.mark.e2e


async def test_the_demo_shows_every_message_and_drains_on_one_ctrl_c() -> None:
    kafka, metrics, web = free_port(), free_port(), free_port()
    with socket.socket() as taken:  # someone else has the emulator's port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = ["--kafka-port", str(kafka), "--emulator-port", str(busy)]
        async with demo(*ports, "--metrics-port", str(metrics), "--web-port", str(web)) as output:
            await output.wait_for(r"received newMessage: \w+, hello #\d+", count=5)
            await output.wait_for(r"received newMessage: demo, hello from the client #\d+", count=2)
    text = output.text
    assert output.process.returncode == 0, text[-4000:]

    # Free ports are kept; the busy one is replaced, and the demo says by which.
    moved = re.search(rf"port {busy} is busy: the SignalR emulator uses port (\d+) instead", text)
    assert moved, text[:3000]
    emulator = int(moved.group(1))
    assert f"starting Apache Kafka on 127.0.0.1:{kafka} ..." in text
    assert f"the chat page:           http://127.0.0.1:{web}/" in text
    assert f"the bridge's live page:  http://127.0.0.1:{metrics}/" in text
    # The connection string, for `token`, a browser or your own client.
    assert re.search(
        rf"\[emulator\] Endpoint=http://127.0.0.1;Port={emulator};AccessKey=[\w-]+;Version=1.0;", text
    )
    assert f"export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{kafka}" in text

    # The producer starts once the client is connected: the client sees the very first message.
    produced = re.findall(r'chat <- \{"user": "(\w+)", "text": "(hello #\d+)"\}', text)
    received = re.findall(r"received newMessage: (\w+), (hello #\d+)", text)
    assert text.index("[  client] connected") < text.index("[producer] chat <- ")
    assert received[0] == produced[0] == (produced[0][0], "hello #1")
    assert set(received) <= set(produced), "the client got something nobody produced"
    # The round trip: what the client invoked came back to it through Kafka and the bridge.
    invoked = set(re.findall(r"invoke send: (hello from the client #\d+)", text))
    returned = set(re.findall(r"received newMessage: demo, (hello from the client #\d+)", text))
    assert len(returned) >= 2
    assert returned <= invoked

    # One Ctrl-C: the bridge gets exactly one SIGTERM, drains and exits 0; then the rest stops.
    assert "SIGTERM received: draining" in text
    assert "bridge stopped drained=true" in text
    assert "the bridge exited with code 0" in text
    assert "second signal" not in text
    assert "SIGINT" not in text
    assert text.rstrip().endswith("[   stack] stopped")
    assert "Traceback" not in text
