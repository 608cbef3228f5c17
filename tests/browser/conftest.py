"""Fixtures for browser tests: one headless chromium per test, always closed."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))  # e2e_support: the demo, ports

from browser_support import Browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    driver = await Browser.launch()
    try:
        yield driver
    finally:
        await driver.close()
