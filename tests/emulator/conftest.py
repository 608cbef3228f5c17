"""Fixtures for the emulator tests: a live emulator on loopback, signed REST calls and raw clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from emu_support import ACCESS_KEY, Clients, Rest

from bridge.emulator import EmulatorServer


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(access_key=ACCESS_KEY, test_hooks=True) as server:
        yield server


@pytest.fixture
async def rest(emulator: EmulatorServer) -> AsyncIterator[Rest]:
    async with httpx.AsyncClient(timeout=10) as http:
        yield Rest(emulator, http)


@pytest.fixture
async def clients(emulator: EmulatorServer) -> AsyncIterator[Clients]:
    async with aiohttp.ClientSession() as session:
        helper = Clients(emulator, session)
        try:
            yield helper
        finally:
            await helper.close_all()
