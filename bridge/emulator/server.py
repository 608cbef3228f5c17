"""EmulatorServer: the aiohttp application and its lifecycle."""

from __future__ import annotations

import asyncio
import secrets
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from bridge.emulator.auth import TokenValidator
from bridge.emulator.clients import ClientEndpoint, ClientTimings, cors_middleware
from bridge.emulator.faults import FaultInjector
from bridge.emulator.hooks import TestHooks
from bridge.emulator.hub import ServiceState
from bridge.emulator.rest import MAX_BODY_BYTES, RestApi
from bridge.emulator.rest_routes import add_rest_routes
from bridge.emulator.server_connections import ServerEndpoint, ServerTimings
from bridge.emulator.server_faults import ServerFaults
from bridge.emulator.upstream import UpstreamCaller, UpstreamSettings

REST_PREFIX = "/api/"


def generate_access_key() -> str:
    return secrets.token_urlsafe(32)


def _url_host(host: str) -> str:
    """The host as it appears in a URL: wildcard binds are reached through loopback."""
    if host in {"0.0.0.0", "", "::"}:  # noqa: S104 - recognising a wildcard, not binding one
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class EmulatorServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key: str | None = None,
        test_hooks: bool = False,
        *,
        timings: ClientTimings | None = None,
        server_timings: ServerTimings | None = None,
        clock_skew_seconds: float = 0.0,
        upstream: UpstreamSettings | None = None,
    ) -> None:
        self.host = host
        self.access_key = access_key or generate_access_key()
        self.test_hooks = test_hooks
        self.faults = FaultInjector()
        self.server_faults = ServerFaults()
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._state = ServiceState(record_messages=test_hooks)
        validator = TokenValidator(self.access_key, clock_skew_seconds=clock_skew_seconds)
        advertised = _url_host(host).strip("[]")
        timings = timings or ClientTimings()
        self._rest = RestApi(self._state, validator, advertised, invoke_timeout=timings.invoke_timeout)
        self._clients = ClientEndpoint(self._state, validator, advertised, timings)
        self.servers = ServerEndpoint(
            self._state, validator, advertised, server_timings or ServerTimings(), self.server_faults
        )
        if upstream is not None:
            self._clients.upstream = UpstreamCaller(upstream, self.access_key, self._state.upstream_calls)

    # lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application(
            client_max_size=MAX_BODY_BYTES, middlewares=[cors_middleware, self._rest_middleware]
        )
        add_rest_routes(app.router, self._rest)
        self._clients.add_routes(app.router)
        self.servers.add_routes(app.router)
        if self.test_hooks:
            TestHooks(self._state, self.faults, self.servers, self.server_faults).add_routes(app.router)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await self._clients.shutdown()
        await self.servers.shutdown()
        await runner.cleanup()
        if self._clients.upstream is not None:
            await self._clients.upstream.close()

    async def kill(self) -> None:
        """Stop as a crashed service would: server connections are cut without a close frame."""
        self.servers.drop()
        await self.stop()

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # addresses ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def connection_string(self) -> str:
        return f"Endpoint=http://{_url_host(self.host)};Port={self.port};AccessKey={self.access_key};Version=1.0;"

    # in-process test hooks ---------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The same JSON as ``GET /_emulator/state``."""
        return {**self._state.snapshot(), "serverConnections": self.servers.snapshot()}

    def reset(self) -> None:
        self._state.reset_log()

    # middleware --------------------------------------------------------------------
    @web.middleware
    async def _rest_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count REST requests by status and apply injected faults to them."""
        if not request.path.startswith(REST_PREFIX):
            passed: web.StreamResponse = await handler(request)
            return passed
        delay, fault = self.faults.next(request.path)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None and fault.drop:
            self._state.requests["dropped"] += 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=499)
        if fault is not None and fault.status is not None:
            injected = _fault_response(fault.status, fault.retry_after, fault.error_code)
            self._state.requests[str(injected.status)] += 1
            return injected
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            self._state.requests[str(exc.status)] += 1
            raise
        self._state.requests[str(response.status)] += 1
        return response


def _fault_response(status: int, retry_after: float | None, error_code: str | None) -> web.Response:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    if error_code:
        headers["x-ms-error-code"] = error_code
    body = {"code": error_code or "InjectedFault", "message": "Fault injected by the emulator test hooks."}
    return web.json_response(body, status=status, headers=headers)
