"""Fixtures for routing and config tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from rt_helpers import FAKE_CONNECTION_STRING


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "bridge.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def signalr_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed, fake connection string so printed URLs are deterministic; no stray overrides."""
    for name in list(os.environ):
        if name.upper().startswith("SIGNALR_BRIDGE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AzureSignalRConnectionString", FAKE_CONNECTION_STRING)
