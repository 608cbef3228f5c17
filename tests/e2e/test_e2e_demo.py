"""The README's main command works: ``make demo``'s stack, stopped with Ctrl-C as a user does."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time

import pytest
from e2e_support import REPO, free_port

pytestmark = pytest.mark.e2e


class Output:
    """The demo's output, read as it comes, so the test can act on what it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait_for(self, pattern: str, count: int = 1, timeout: float = 180) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.text)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {count}x {pattern!r} in {timeout}s:\n{self.text[-4000:]}")
            line = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            if not line:
                raise AssertionError(f"the demo exited before {pattern!r}:\n{self.text[-4000:]}")
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    async def rest(self, timeout: float = 120) -> None:
        assert self.process.stdout is not None
        remaining, _ = await asyncio.wait_for(self.process.communicate(), timeout)
        self.lines += remaining.decode(errors="replace").splitlines()


async def test_the_demo_shows_every_message_and_drains_on_one_ctrl_c() -> None:
    kafka, metrics, web = free_port(), free_port(), free_port()
    with socket.socket() as taken:  # someone else has the emulator's port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "deploy/local/stack.py", "--kafka-port", str(kafka), "--emulator-port", str(busy),
            "--metrics-port", str(metrics), "--web-port", str(web),
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )  # fmt: skip
        output = Output(process)
        try:
            await output.wait_for(r"received newMessage: \w+, hello #\d+", count=5)
        finally:
            # Ctrl-C: the terminal signals the whole foreground process group.
            os.killpg(process.pid, signal.SIGINT)
            await output.rest()
    text = output.text
    assert process.returncode == 0, text[-4000:]

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

    # One Ctrl-C: the bridge gets exactly one SIGTERM, drains and exits 0; then the rest stops.
    assert "SIGTERM received: draining" in text
    assert "bridge stopped drained=true" in text
    assert "the bridge exited with code 0" in text
    assert "second signal" not in text
    assert "SIGINT" not in text
    assert text.rstrip().endswith("[   stack] stopped")
    assert "Traceback" not in text
