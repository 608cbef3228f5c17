"""Helpers for the upstream receiver tests: configs, signed requests, reading what landed in Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from bridge.observability.health import HealthState
from bridge.observability.metrics import BridgeMetrics
from bridge.upstream.receiver import UpstreamReceiver

ACCESS_KEY = "upstream-test-key-0123456789abcdefghijklmnopqrstuvwxyz"
CONNECTION_STRING = f"Endpoint=https://example.service.signalr.net;AccessKey={ACCESS_KEY};Version=1.0;"
MARKER = "marker-connection"


def signature(connection_id: str, key: str = ACCESS_KEY) -> str:
    """Computed here with hmac directly, not with the receiver's code."""
    return "sha256=" + hmac.new(key.encode(), connection_id.encode(), hashlib.sha256).hexdigest()


def config_text(bootstrap: str, routes: str, *, upstream: str = "", outbound: str = "") -> str:
    return (
        f"kafka:\n  bootstrap_servers: {bootstrap}\n"
        f"signalr:\n  hub: chat\n  connection_string: '{CONNECTION_STRING}'\n"
        f"upstream:\n  host: 127.0.0.1\n  port: 0\n{upstream}  routes:\n{routes}"
        f"{outbound}"
    )


class Upstream:
    """Plays the service: POSTs events to the receiver as UPSTREAM.md §2 describes."""

    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base_url = base_url
        self.http = http

    async def post(
        self,
        category: str,
        event: str,
        body: bytes | dict[str, Any] | None = None,
        *,
        connection_id: str = "conn-1",
        hub: str = "chat",
        user: str | None = None,
        signed: str | bool | None = True,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        if body is None:
            body = {"type": 10} if event == "connected" else {"type": 11}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {
            "X-ASRS-Connection-Id": connection_id,
            "X-ASRS-Hub": hub,
            "X-ASRS-Category": category,
            "X-ASRS-Event": event,
            "Content-Type": content_type,
            **(headers or {}),
        }
        if user is not None:
            sent["X-ASRS-User-Id"] = user
        if signed is True:
            sent["X-ASRS-Signature"] = signature(connection_id)
        elif isinstance(signed, str):
            sent["X-ASRS-Signature"] = signed
        return await self.http.post(f"{self.base_url}/{hub}/{category}/{event}", content=data, headers=sent)

    async def invoke(
        self, target: str, *arguments: Any, invocation_id: str | None = None, **kw: Any
    ) -> httpx.Response:
        message: dict[str, Any] = {"type": 1, "target": target, "arguments": list(arguments)}
        if invocation_id is not None:
            message["invocationId"] = invocation_id
        return await self.post("messages", target, message, **kw)

    async def marker(self) -> None:
        """An event that certainly lands: what arrives before it in the topic is all there is."""
        response = await self.post("connections", "connected", connection_id=MARKER)
        assert response.status_code == 204, response.text


async def read_until(
    bootstrap: str, topic: str, done: Callable[[list[Any]], bool], timeout: float = 60
) -> list[Any]:
    """Every record of ``topic`` from the start, read until ``done(records)`` holds."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while not done(records):
                for batch in (await consumer.getmany(timeout_ms=300)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def until(check: Callable[[], Any], timeout: float = 10) -> None:
    """Poll ``check`` until it holds (state another task changes)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def envelope(record: Any) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(record.value)
    return value


def until_marker(records: list[Any]) -> bool:
    return any(envelope(r)["connectionId"] == MARKER for r in records)


async def read_until_marker(bootstrap: str, topic: str) -> list[Any]:
    """The records before the marker (the marker itself left out)."""
    records = await read_until(bootstrap, topic, until_marker)
    return [r for r in records if envelope(r)["connectionId"] != MARKER]


@dataclass
class Running:
    """A started receiver with its metrics and health, and a client that plays the service."""

    receiver: UpstreamReceiver
    metrics: BridgeMetrics
    health: HealthState
    upstream: Upstream
