"""Fixtures for browser tests: one headless chromium per test, always closed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from browser_support import Browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    driver = await Browser.launch()
    try:
        yield driver
    finally:
        await driver.close()
