"""Fixtures for end-to-end tests: the emulator in-process, bridges as child processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import HUB, BridgeProcess, HubListener, token_for

from bridge.emulator import EmulatorServer


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(test_hooks=True) as server:
        yield server


@pytest.fixture
def bridges(
    bootstrap_servers: str, emulator: EmulatorServer, tmp_path: Path
) -> Iterator[Callable[[str], BridgeProcess]]:
    """Start bridges from a config text (and extra environment); every one is stopped at the end."""
    started: list[BridgeProcess] = []
    env = {
        "AzureSignalRConnectionString": emulator.connection_string,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
    }

    def start(config_text: str, extra_env: dict[str, str] | None = None) -> BridgeProcess:
        name = f"bridge{len(started)}"
        bridge = BridgeProcess(config_text, tmp_path, {**env, **(extra_env or {})}, name=name).start()
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()


@pytest.fixture
async def listener(emulator: EmulatorServer) -> AsyncIterator[HubListener]:
    client = await HubListener().connect(token_for(emulator.connection_string, HUB, "watcher"))
    try:
        yield client
    finally:
        await client.close()
