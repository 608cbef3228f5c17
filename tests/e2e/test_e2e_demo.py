"""The README's main command works: the local stack shows a client receiving produced messages,
and what the client itself sends coming back through Kafka (the round trip)."""

from __future__ import annotations

import asyncio
import re
import sys

import pytest
from e2e_support import REPO

pytestmark = pytest.mark.e2e


async def test_the_demo_stack_delivers_produced_messages_to_the_client() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "deploy/local/stack.py", "--duration", "15", "--random-ports",
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=240)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-3000:]
    produced = set(re.findall(r'chat <- \{"user": "(\w+)", "text": "(hello #\d+)"\}', text))
    received = set(re.findall(r"received newMessage: (\w+), (hello #\d+)", text))
    assert len(received) >= 5, text[-3000:]
    assert received <= produced, "the client got something nobody produced"
    # The round trip: what the client invoked came back to it through Kafka and the bridge.
    invoked = set(re.findall(r"invoke send: (hello from the client #\d+)", text))
    returned = set(re.findall(r"received newMessage: demo, (hello from the client #\d+)", text))
    assert len(returned) >= 2, text[-3000:]
    assert returned <= invoked
    assert "[   stack] stopped" in text
