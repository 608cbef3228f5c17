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

from bridge.config import LoadedConfig
from bridge.observability.health import HealthState
from bridge.observability.logging import configure_logging
from bridge.observability.metrics import BridgeMetrics
from bridge.observability.server import ObservabilityServer
from bridge.pipeline.service import BridgeService

log = logging.getLogger(__name__)

FORCED_EXIT_CODE = 130


async def run_bridge(loaded: LoadedConfig, *, configure_logs: bool = True) -> int:
    config = loaded.config
    if configure_logs:
        observability = config.observability
        configure_logging(observability.log_level, observability.log_format, observability.library_log_level)
    metrics = BridgeMetrics()
    health = HealthState(metrics)
    service = BridgeService(config, metrics=metrics, health=health)
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
        await service.start()
        log.info(
            "bridge running",
            extra={"config": loaded.file, "routes": len(config.routes), "metrics_port": server.port},
        )
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(service.failed.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        drained = await service.stop()
        log.info("bridge stopped", extra={"drained": drained})
    finally:
        await service.stop(drain_timeout=0)
        await server.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    if service.failure is not None:
        log.error("bridge stopped on a failure: %s", service.failure)
        return 1
    return 0
