"""The running bridge: a faust agent feeding the record processor, the SignalR client, metrics.

Lifecycle (idempotent ``start``/``stop``, like aiokafka's clients):

    start   SignalR client, faust app (joins the consumer group), lag reporting
    stop    stop fetching, drain what is in flight within the deadline, commit, leave the group
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
from typing import Any, cast

import faust

from bridge.config import BridgeConfig
from bridge.config.schema import ALL_FAILURE_REASONS
from bridge.observability.health import HealthState
from bridge.observability.metrics import BridgeMetrics
from bridge.pipeline.deadletter import DeadLetterSink
from bridge.pipeline.kafka_app import build_app
from bridge.pipeline.processor import DeadLetterPolicy, FatalDeliveryError, RecordProcessor
from bridge.pipeline.signalr_client import client_from_config
from bridge.routing import Record, Router, compile_routes
from bridge.signalr.client import SignalRClient
from bridge.signalr.delivery import DeliveryResult
from bridge.signalr.observer import DeliveryObserver
from bridge.signalr.outcome import Verdict

log = logging.getLogger(__name__)

_RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


class _FaustDeadLetterSink(DeadLetterSink):
    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send(self, topic: str, record: Record, headers: list[tuple[str, bytes]]) -> None:
        await self._app.producer.send_and_wait(
            topic, record.key, record.value, partition=None, timestamp=None, headers=headers
        )


class _MetricsObserver(DeliveryObserver):
    """Feeds the SignalR client's events into metrics and readiness."""

    def __init__(self, metrics: BridgeMetrics, health: HealthState) -> None:
        self._metrics = metrics
        self._health = health

    def on_retry(self, endpoint: str, operation: str, verdict: Verdict, delay: float) -> None:
        self._metrics.delivery_retried(verdict.reason)

    def on_endpoint_health(self, endpoint: str, online: bool, reason: str) -> None:
        # Once per change, with the reason: a refused handshake or a dead endpoint says why here.
        if online:
            log.info("SignalR endpoint %s is up: %s", endpoint, reason, extra={"endpoint": endpoint})
        else:
            log.warning("SignalR endpoint %s is down: %s", endpoint, reason, extra={"endpoint": endpoint})
        self._metrics.set_endpoint_up(endpoint, online)
        self._health.set_endpoint_up(endpoint, online)

    def on_server_connections(self, endpoint: str, up: int, reconnected: bool) -> None:
        self._metrics.server_connections(endpoint, up, reconnected)

    def on_frame(self, endpoint: str, messages: int) -> None:
        self._metrics.frame_written(messages)

    def on_barrier(self, endpoint: str, seconds: float, confirmed: int) -> None:
        self._metrics.barrier_confirmed(seconds)

    def on_unconfirmed(self, endpoint: str, count: int) -> None:
        self._metrics.set_unconfirmed(endpoint, count)

    def on_result(self, result: DeliveryResult) -> None:
        if result.partial:
            log.warning("delivered to some endpoints only: %s", ", ".join(result.failed_endpoints))


def subscription(app: faust.App, router: Router) -> Any:
    """One faust topic for every routed topic; names and patterns merge into one pattern.

    One subscription means one agent sees each record once, even when a topic is both named
    and matched by a pattern.
    """
    names = sorted(router.topics)
    if not router.topic_patterns:
        return app.topic(*names, **_RAW)
    parts = [re.escape(name) for name in names] + [p.pattern for p in router.topic_patterns]
    return app.topic(pattern=re.compile("|".join(f"(?:{p})" for p in parts)), **_RAW)


def _declare_series(metrics: BridgeMetrics, config: BridgeConfig, router: Router) -> None:
    dead_letter = config.dead_letter
    metrics.declare_routes(
        [route.name for route in config.routes],
        router.topics,
        dead_lettered=[r for r in ALL_FAILURE_REASONS if dead_letter.dead_letters(r)],
        # With other_failures: stop, a failure stops the consumer instead: nothing is dropped.
        dropped=[]
        if dead_letter.other_failures == "stop"
        else [r for r in ALL_FAILURE_REASONS if not dead_letter.dead_letters(r)],
    )


class BridgeService:
    def __init__(
        self,
        config: BridgeConfig,
        *,
        metrics: BridgeMetrics,
        health: HealthState,
        client: SignalRClient | None = None,
        lag_interval_seconds: float = 5.0,
        commit_interval_seconds: float = 1.0,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.health = health
        self.router = compile_routes(config)
        _declare_series(metrics, config, self.router)
        self.client = client or client_from_config(config.signalr, observer=_MetricsObserver(metrics, health))
        self.app = build_app(config.kafka)
        self.processor = RecordProcessor(
            router=self.router,
            client=self.client,
            dead_letter=DeadLetterPolicy.from_config(config.dead_letter),
            sink=_FaustDeadLetterSink(self.app),
            metrics=metrics,
            max_in_flight=config.pipeline.max_in_flight,
            max_in_flight_per_partition=config.pipeline.max_in_flight_per_partition,
            on_fatal=self._on_fatal,
        )
        self._lag_interval = lag_interval_seconds
        self._commit_interval = commit_interval_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._last_offset: dict[tuple[str, int], int] = {}
        self.stopped = asyncio.Event()
        self.failed = asyncio.Event()
        self.failure: str | None = None
        self._started = False
        self._stopping = False
        self._install_agent()

    def _install_agent(self) -> None:
        processor = self.processor
        last_offset = self._last_offset

        async def deliver(stream: Any) -> None:  # a faust.Stream of raw bytes
            # noack: faust must not ack on its own (it would ack a record whose agent crashed,
            # and with gaps it can commit past in-flight records); the processor acks in order.
            async for event in stream.noack().events():
                message = event.message
                record = Record(
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
                    key=message.key,
                    value=message.value,
                    # A header may carry no value at all (None): keep it, as empty bytes.
                    headers=tuple((k, bytes(v or b"")) for k, v in (message.headers or ())),
                )
                last_offset[(message.topic, message.partition)] = message.offset
                await processor.submit(record, event.ack)

        self.app.agent(subscription(self.app, self.router), name="signalr-bridge.deliver")(deliver)

        async def on_assigned(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
            assigned = args[0]
            self.health.set_consumer_running(True)
            log.info("partitions assigned", extra={"partitions": sorted(str(tp) for tp in assigned)})

        async def on_revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
            revoked = args[0]
            processor.forget_partitions([(tp.topic, tp.partition) for tp in revoked])
            for tp in revoked:
                self.metrics.forget_partition(tp.topic, tp.partition)
            log.info("partitions revoked", extra={"partitions": sorted(str(tp) for tp in revoked)})

        # mode's signal typing cannot match an async receiver against its callable union.
        self.app.on_partitions_assigned.connect(cast(Any, on_assigned))
        self.app.on_partitions_revoked.connect(cast(Any, on_revoked))

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        await self.client.start()
        for name, online in (await self.client.check_health()).items():
            self.metrics.set_endpoint_up(name, online)
            self.health.set_endpoint_up(name, online)
        await self.app.start()
        self._tasks = [asyncio.create_task(self._report_lag()), asyncio.create_task(self._commit_regularly())]

    async def stop(self, drain_timeout: float | None = None) -> bool:
        """Stop fetching, drain within the deadline, commit, leave. True when nothing was cut off."""
        if self._stopping:
            await self.stopped.wait()
            return True
        self._stopping = True
        if not self._started:
            await self.client.aclose()
            shutil.rmtree(self.app.conf.datadir, ignore_errors=True)
            self.stopped.set()
            return True
        deadline = self.config.shutdown.drain_timeout_seconds if drain_timeout is None else drain_timeout
        self.health.start_draining()
        consumer = self.app.consumer
        with contextlib.suppress(Exception):
            consumer.stop_flow()
            self.app.flow_control.suspend()
            consumer.pause_partitions(consumer.assignment())
        log.info("draining", extra={"in_flight": self.processor.in_flight, "deadline_seconds": deadline})
        drained = await self.processor.drain(deadline)
        if not drained:
            log.warning(
                "drain deadline passed; %d records cut off (redelivered after restart)",
                self.processor.in_flight,
            )
            await self.processor.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self._commit()
        except Exception:
            log.exception("final offset commit failed; uncommitted records will be redelivered")
        await self.app.stop()
        await self.client.aclose()
        # faust wants a data dir even with the in-memory store; it holds nothing worth keeping.
        shutil.rmtree(self.app.conf.datadir, ignore_errors=True)
        self.stopped.set()
        return drained

    def _on_fatal(self, exc: FatalDeliveryError) -> None:
        self.failure = str(exc)
        self.health.consumer_failed(self.failure)
        self.failed.set()

    async def _commit(self) -> None:
        # Commits what the processor released: always a contiguous prefix per partition.
        if await self.app.consumer.commit():
            self.metrics.offsets_committed()

    async def _commit_regularly(self) -> None:
        while True:
            await asyncio.sleep(self._commit_interval)
            try:
                await self._commit()
            except Exception:
                log.warning("offset commit failed; retrying at the next interval", exc_info=True)

    async def _report_lag(self) -> None:
        while True:
            await asyncio.sleep(self._lag_interval)
            with contextlib.suppress(Exception):
                consumer = self.app.consumer
                for tp in consumer.assignment():
                    end = consumer.highwater(tp)
                    partition = (tp.topic, tp.partition)
                    done_upto = self.processor.oldest_unfinished(partition)
                    if done_upto is None:
                        last = self._last_offset.get(partition)
                        done_upto = last + 1 if last is not None else end
                    self.metrics.set_consumer_lag(tp.topic, tp.partition, end - done_upto)
