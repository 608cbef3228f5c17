"""Helpers shared by the delivery tests (a module, since conftest cannot be imported)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from bridge.signalr import RetryPolicy

RS = "\x1e"
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05, max_elapsed=20.0)


@dataclass
class Sink:
    """A loopback HTTP server that records requests and answers from a script of statuses."""

    base_url: str = ""
    requests: list[web.Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default_status: int = 202

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        self.requests.append(request)
        status, headers = self.script.pop(0) if self.script else (self.default_status, {})
        return web.Response(status=status, headers=headers)

    @property
    def connection_string(self) -> str:
        key = "sink-access-key-0123456789-abcdefghijklmnop"
        return f"Endpoint={self.base_url};AccessKey={key};Version=1.0;"
