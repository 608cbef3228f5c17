"""Test hooks under ``/_emulator/`` (only with ``test_hooks=True``; no auth).

``POST /_emulator/faults`` / ``DELETE /_emulator/faults``, ``GET /_emulator/state``,
``POST /_emulator/reset``; see README.md.
"""

from __future__ import annotations

import json

from aiohttp import web

from bridge.emulator.faults import FaultError, FaultInjector
from bridge.emulator.hub import ServiceState


class TestHooks:
    __test__ = False  # not a pytest class

    def __init__(self, state: ServiceState, faults: FaultInjector) -> None:
        self._state = state
        self._faults = faults

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("POST", "/_emulator/faults", self.inject)
        router.add_route("DELETE", "/_emulator/faults", self.clear)
        router.add_route("GET", "/_emulator/faults", self.describe)
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

    async def state(self, _request: web.Request) -> web.Response:
        return web.json_response(self._state.snapshot())

    async def reset(self, _request: web.Request) -> web.Response:
        self._state.reset_log()
        return web.Response(status=204)
