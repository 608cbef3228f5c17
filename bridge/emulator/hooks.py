"""Test hooks under ``/_emulator/`` (only with ``test_hooks=True``; no auth).

``POST /_emulator/faults`` / ``DELETE /_emulator/faults``, ``POST /_emulator/server-faults`` /
``DELETE /_emulator/server-faults``, ``GET /_emulator/state``, ``POST /_emulator/reset``; see README.md.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bridge.emulator.faults import FaultError, FaultInjector
from bridge.emulator.hub import ServiceState
from bridge.emulator.server_connections import ServerEndpoint
from bridge.emulator.server_faults import ServerFaults


class TestHooks:
    __test__ = False  # not a pytest class

    def __init__(
        self, state: ServiceState, faults: FaultInjector, servers: ServerEndpoint, server_faults: ServerFaults
    ) -> None:
        self._state = state
        self._faults = faults
        self._servers = servers
        self._server_faults = server_faults

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("POST", "/_emulator/faults", self.inject)
        router.add_route("DELETE", "/_emulator/faults", self.clear)
        router.add_route("GET", "/_emulator/faults", self.describe)
        router.add_route("POST", "/_emulator/server-faults", self.inject_server)
        router.add_route("DELETE", "/_emulator/server-faults", self.clear_server)
        router.add_route("GET", "/_emulator/server-faults", self.describe_server)
        router.add_route("GET", "/_emulator/state", self.state)
        router.add_route("POST", "/_emulator/reset", self.reset)

    async def inject(self, request: web.Request) -> web.Response:
        try:
            self._faults.inject_json(await request.json())
        except (FaultError, json.JSONDecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self._faults.describe())

    async def clear(self, _request: web.Request) -> web.Response:
        self._faults.clear()
        return web.json_response(self._faults.describe())

    async def describe(self, _request: web.Request) -> web.Response:
        return web.json_response(self._faults.describe())

    async def inject_server(self, request: web.Request) -> web.Response:
        """Standing faults (refuse_handshake, ack_delay_ms, withhold_acks, drop_after_messages) and
        one-off actions (drop, service_error, offline) for server connections."""
        try:
            body = await request.json()
            done = self._apply_server_faults(body if isinstance(body, dict) else {})
        except (FaultError, json.JSONDecodeError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({**self._server_faults.describe(), **done})

    def _apply_server_faults(self, body: dict[str, Any]) -> dict[str, int]:
        faults, done = self._server_faults, {}
        if body.get("refuse_handshake"):
            faults.refuse_handshakes(str(body["refuse_handshake"]), body.get("count"))
        if "ack_delay_ms" in body:
            faults.delay_acks(float(body["ack_delay_ms"]))
        if "withhold_acks" in body:
            count = body["withhold_acks"]
            faults.withhold_acks(None if count in (None, "all") else int(count))
        if "drop_after_messages" in body:
            faults.drop_after(int(body["drop_after_messages"]))
        if "drop" in body:
            count = body["drop"]
            done["dropped"] = self._servers.drop(None if count in (None, "all") else int(count))
        if body.get("service_error"):
            done["service_errors"] = self._servers.service_error(str(body["service_error"]))
        if body.get("offline"):
            done["offline"] = self._servers.offline()
        return done

    async def clear_server(self, _request: web.Request) -> web.Response:
        self._server_faults.clear()
        return web.json_response(self._server_faults.describe())

    async def describe_server(self, _request: web.Request) -> web.Response:
        return web.json_response(self._server_faults.describe())

    async def state(self, _request: web.Request) -> web.Response:
        return web.json_response({**self._state.snapshot(), "serverConnections": self._servers.snapshot()})

    async def reset(self, _request: web.Request) -> web.Response:
        self._state.reset_log()
        return web.Response(status=204)
