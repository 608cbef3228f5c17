"""``signalr-bridge dlq replay``: dead-lettered records can be sent again once the cause is fixed."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest
from e2e_support import REPO, HubListener, counting_config, create_topic, produce, read_topic, record

from bridge.emulator import EmulatorServer

pytestmark = pytest.mark.e2e


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", *args, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_replay_delivers_fixed_records_and_returns_failing_ones_to_the_topic(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener: HubListener, unique
) -> None:
    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 1)
    bridge = bridges(counting_config(unique.group(), topic, dlq, ordering="partition"))
    await bridge.wait_ready()
    emulator.faults.inject(
        1, 400, error_code="Error.Test.Rejected", path_contains="/users/"
    )  # the service refuses seq 1 once
    await produce(bootstrap_servers, topic, [record("k", 1), (b"k", b"{broken"), record("k", 2)])
    assert [int(args[1]) for _, args in await listener.wait_for(1)] == [2]
    assert len(await read_topic(bootstrap_servers, dlq, 2)) == 2
    bridge.signal(signal.SIGTERM)
    assert await bridge.wait_exit() == 0
    config = str(bridge.config)

    code, output = await run_cli("dlq", "replay", "--config", config, "--dry-run", env=bridge.env)
    assert code == 1, output
    assert f"{topic}[0]@0: would send POST /api/hubs/e2e/users/watcher/:send" in output
    assert f"{topic}[0]@1: would fail again" in output
    assert "1 would be delivered, 1 failed again, 0 skipped" in output
    await asyncio.sleep(1)
    assert len(listener.messages) == 1, "a dry run must not send anything"

    code, output = await run_cli("dlq", "replay", "--config", config, env=bridge.env)
    assert code == 1, output
    assert "1 delivered, 1 failed again, 0 skipped" in output
    messages = await listener.wait_for(2)
    assert [int(args[1]) for _, args in messages] == [2, 1]
    dead = await read_topic(bootstrap_servers, dlq, 3)
    assert len(dead) == 3
    returned = {k: v.decode() for k, v in dead[2].headers}
    assert dead[2].value == b"{broken"
    assert returned["bridge.error.reason"] == "decode_error"
    assert returned["bridge.source.topic"] == topic
    assert returned["bridge.source.offset"] == "1", "the source position survives a replay"

    # A second run continues after the first: the delivered record is not sent twice.
    code, output = await run_cli("dlq", "replay", "--config", config, env=bridge.env)
    assert "0 delivered, 1 failed again, 0 skipped" in output
    await asyncio.sleep(1)
    assert len(listener.messages) == 2
