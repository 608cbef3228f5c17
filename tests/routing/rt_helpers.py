"""Helpers shared by the routing and config tests (imported as a top-level module)."""

from __future__ import annotations

import textwrap

from bridge.config import BridgeConfig, load_config_text
from bridge.routing import Record, Router, compile_routes

FAKE_CONNECTION_STRING = "Endpoint=https://example.service.signalr.net;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;Version=1.0;"

BASE = """\
kafka:
  bootstrap_servers: 127.0.0.1:9092
signalr:
  hub: chat
"""


def config_text(routes: str, base: str = BASE) -> str:
    """A full config: the minimal kafka/signalr sections plus ``routes`` (dedented YAML)."""
    return base + "routes:\n" + textwrap.indent(textwrap.dedent(routes), "  ")


def router_for(routes: str) -> Router:
    return compile_routes(load(config_text(routes)))


def load(text: str, environ: dict[str, str] | None = None) -> BridgeConfig:
    """Load and check as `signalr-bridge check` does: structure, then templates and names."""
    loaded = load_config_text(text, file="test.yaml", environ=environ or {})
    compile_routes(loaded)
    return loaded.config


def record(
    value: bytes | str | None = None,
    *,
    topic: str = "chat",
    key: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    partition: int = 0,
    offset: int = 0,
    timestamp_ms: int | None = None,
) -> Record:
    return Record(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp_ms,
        key=key.encode() if isinstance(key, str) else key,
        value=value.encode() if isinstance(value, str) else value,
        headers=tuple((k, v.encode()) for k, v in (headers or {}).items()),
    )
