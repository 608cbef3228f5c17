"""The bridge's own HTTP server: ``/metrics``, ``/healthz`` and ``/readyz``.

``/metrics`` is prometheus_client's own aiohttp handler: the Prometheus text format, or
OpenMetrics when the scraper's Accept header asks for it, gzip-compressed when its
Accept-Encoding allows. ``/healthz`` and ``/readyz`` answer
200 or 503 with a small JSON body ``{"status": ..., "reasons": [...]}``; their
meanings are documented in :mod:`bridge.observability.health`. Handlers never
wait on I/O, so a probe cannot time out because Kafka or SignalR is slow.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from bridge.observability.health import HealthState, Verdict
from bridge.observability.metrics import BridgeMetrics

DEFAULT_HOST: Final = "0.0.0.0"  # noqa: S104 - scraped by Prometheus from outside the pod
DEFAULT_PORT: Final = 9108

log = logging.getLogger(__name__)


def _verdict_response(verdict: Verdict) -> web.Response:
    body = {"status": "ok" if verdict.ok else "unavailable", "reasons": list(verdict.reasons)}
    return web.json_response(body, status=200 if verdict.ok else 503)


def build_app(metrics: BridgeMetrics, health: HealthState) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return _verdict_response(health.liveness())

    async def readyz(_: web.Request) -> web.Response:
        return _verdict_response(health.readiness())

    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class ObservabilityServer:
    """Runs :func:`build_app` on ``host:port``; ``start`` and ``stop`` are idempotent.

    ``port=0`` binds a free port; :attr:`port` tells which one after ``start``.
    """

    def __init__(
        self,
        metrics: BridgeMetrics,
        health: HealthState,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
    ) -> None:
        self._app = build_app(metrics, health)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("the observability server is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host  # noqa: S104
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = self._discover_port(runner)
        log.info("observability server listening", extra={"host": self._host, "port": self._bound_port})

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._bound_port = None
        await runner.cleanup()

    async def __aenter__(self) -> ObservabilityServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _discover_port(self, runner: web.AppRunner) -> int:
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
        return self._port
