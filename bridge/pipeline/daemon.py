"""``signalr-bridge run``: the bridge as a process, with signals, health and a drain deadline.

Signal handling follows uvicorn: the handler only sets a flag. The first SIGTERM/SIGINT
starts a graceful stop (stop fetching, drain within ``shutdown.drain_timeout_seconds``,
commit, exit 0); a second one forces the exit at once (records in flight are redelivered
after the restart, since their offsets were never committed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import TYPE_CHECKING

from bridge.config import LoadedConfig
from bridge.observability.health import HealthState
from bridge.observability.logging import configure_logging
from bridge.observability.metrics import BridgeMetrics
from bridge.observability.server import ObservabilityServer
from bridge.pipeline.kafka_app import aiokafka_security
from bridge.pipeline.service import BridgeService

if TYPE_CHECKING:
    from bridge.upstream.receiver import UpstreamReceiver

log = logging.getLogger(__name__)

FORCED_EXIT_CODE = 130


async def run_bridge(loaded: LoadedConfig, *, configure_logs: bool = True) -> int:
    config = loaded.config
    if configure_logs:
        observability = config.observability
        configure_logging(observability.log_level, observability.log_format, observability.library_log_level)
    metrics = BridgeMetrics()
    health = HealthState(metrics, outbound=bool(config.routes))
    # A config may hold outbound routes (Kafka -> SignalR), inbound ones (upstream), or both.
    service = BridgeService(config, metrics=metrics, health=health) if config.routes else None
    upstream = _upstream_receiver(loaded, metrics, health)
    server = ObservabilityServer(
        metrics, health, host=config.observability.host, port=config.observability.port
    )
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            log.info("%s received: draining", signal.Signals(signum).name)
            stop.set()
        else:
            log.warning("second signal: exiting now without draining")
            os._exit(FORCED_EXIT_CODE)

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await server.start()
        if upstream is not None:
            try:
                await upstream.start()
            except OSError as exc:
                log.error("the upstream receiver cannot listen: %s", exc.strerror or exc)
                return 1
        if service is not None:
            await service.start()
        log.info(
            "bridge running",
            extra={"config": loaded.file, "routes": len(config.routes), "metrics_port": server.port},
        )
        waiters = [asyncio.create_task(stop.wait())]
        if service is not None:
            waiters.append(asyncio.create_task(service.failed.wait()))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        health.start_draining()
        drain = config.shutdown.drain_timeout_seconds
        stops = [upstream.stop(drain)] if upstream is not None else []
        if service is not None:
            stops.append(service.stop())
        drained = all(await asyncio.gather(*stops))
        log.info("bridge stopped", extra={"drained": drained})
    finally:
        if upstream is not None:
            await upstream.stop(drain_timeout=0)
        if service is not None:
            await service.stop(drain_timeout=0)
        await server.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    if service is not None and service.failure is not None:
        log.error("bridge stopped on a failure: %s", service.failure)
        return 1
    return 0


def _upstream_receiver(
    loaded: LoadedConfig, metrics: BridgeMetrics, health: HealthState
) -> UpstreamReceiver | None:
    """The upstream edge (SignalR -> Kafka), when the config has an ``upstream`` section."""
    if loaded.config.upstream is None:
        return None
    from bridge.routing.inbound import compile_inbound_routes  # noqa: PLC0415 - only with upstream
    from bridge.upstream.receiver import UpstreamReceiver  # noqa: PLC0415

    config = loaded.config
    router = compile_inbound_routes(loaded)
    security = aiokafka_security(config.kafka)
    return UpstreamReceiver(config, metrics=metrics, health=health, router=router, kafka_security=security)
