"""One record's way through the bridge: route, deliver in its lane, dead-letter, release its offset.

The agent hands records over in offset order per partition (``submit``). Each one waits for
room within the in-flight bounds (that wait is the backpressure: the agent stops pulling
records, faust's buffer fills and fetching pauses), then runs in its ordering lane. Whatever
happens to it, delivered, skipped or dead-lettered, its offset is released only when every
earlier record of its partition is done, so a commit never passes an unfinished record.

An outage is not a record's fault: when retries run out while no endpoint is up, the record
waits for the service to come back and is delivered then; it is never dead-lettered for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Literal, Protocol

from bridge.config.schema import DeadLetterConfig
from bridge.observability.metrics import BridgeMetrics
from bridge.observability.metrics import Outcome as MetricOutcome
from bridge.pipeline.deadletter import DeadLetterSink, Failure, dead_letter_headers, failure_from
from bridge.pipeline.lanes import Lanes
from bridge.pipeline.offsets import OrderedAcks, Ticket
from bridge.routing import Record, RoutedAction, Router, RoutingError
from bridge.signalr.actions import Action
from bridge.signalr.delivery import DeliveryResult
from bridge.signalr.outcome import Outcome

log = logging.getLogger(__name__)

Partition = tuple[str, int]


class Deliverer(Protocol):
    async def deliver(self, action: Action, *, key: Hashable | None = None) -> DeliveryResult: ...

    async def check_health(self) -> dict[str, bool]: ...


@dataclass(frozen=True, slots=True)
class DeadLetterPolicy:
    topic: str | None
    reasons: frozenset[str]
    other_failures: Literal["skip", "stop"] = "skip"

    def dead_letters(self, reason: str) -> bool:
        return self.topic is not None and reason in self.reasons

    @classmethod
    def from_config(cls, config: DeadLetterConfig) -> DeadLetterPolicy:
        return cls(config.topic, frozenset(config.reasons), config.other_failures)


class FatalDeliveryError(Exception):
    """A failure the config says must stop the bridge (``dead_letter.other_failures: stop``)."""


class RecordProcessor:
    def __init__(
        self,
        *,
        router: Router,
        client: Deliverer,
        dead_letter: DeadLetterPolicy,
        sink: DeadLetterSink | None,
        metrics: BridgeMetrics,
        max_in_flight: int,
        max_in_flight_per_partition: int,
        on_fatal: Callable[[FatalDeliveryError], None] = lambda exc: None,
        outage_poll_seconds: float = 2.0,
    ) -> None:
        self._router = router
        self._client = client
        self._dead_letter = dead_letter
        self._sink = sink
        self._metrics = metrics
        self._total = asyncio.Semaphore(max_in_flight)
        self._per_partition_limit = max_in_flight_per_partition
        self._per_partition: dict[Partition, asyncio.Semaphore] = {}
        self._acks: OrderedAcks[Callable[[], object]] = OrderedAcks(lambda release: release())
        self._lanes = Lanes()
        self._on_fatal = on_fatal
        self._outage_poll = outage_poll_seconds
        self.fatal: FatalDeliveryError | None = None
        self._closing = asyncio.Event()

    # --- intake (called by the agent, in offset order per partition) ------------------------

    async def submit(self, record: Record, release: Callable[[], object]) -> None:
        """Take one record; returns once it is scheduled (waits while the bridge is full)."""
        if self._closing.is_set():
            return  # shutting down: never started, never acked, so redelivered after the restart
        self._metrics.record_consumed(record.topic)
        partition = (record.topic, record.partition)
        per_partition = self._per_partition.setdefault(
            partition, asyncio.Semaphore(self._per_partition_limit)
        )
        await per_partition.acquire()
        await self._total.acquire()
        if self._closing.is_set():  # the drain began while this record waited for room
            self._total.release()
            per_partition.release()
            return
        ticket = self._acks.begin(partition, record.offset, release)
        try:
            routed = self._router.route(record)
        except RoutingError as exc:
            # Dead-letter in the record's lane too, so the dead-letter topic keeps the source order.
            failure = Failure(reason=exc.reason.value, detail=str(exc), route=exc.route)
            orderings = {route.ordering for route in self._router.routes_for(record.topic)}
            lane = _lane(record, orderings)
            self._lanes.submit(lane, lambda: self._run(record, ticket, per_partition, lane, failure=failure))
            return
        if not routed:
            self._metrics.record_skipped(record.topic)
        lane = _lane(record, {item.ordering for item in routed})
        self._lanes.submit(lane, lambda: self._run(record, ticket, per_partition, lane, routed=routed))

    def forget_partitions(self, partitions: list[Partition]) -> None:
        """A rebalance took these away: their unfinished records belong to the new owner now."""
        for partition in partitions:
            dropped = self._acks.forget(partition)
            if dropped:
                log.info("partition revoked with records in flight", extra={"partition": partition})

    def oldest_unfinished(self, partition: Partition) -> int | None:
        return self._acks.oldest_unfinished(partition)

    @property
    def in_flight(self) -> int:
        return len(self._lanes)

    async def drain(self, within: float | None) -> bool:
        """Take no more records and wait for those in flight; True when all finished in time."""
        self._closing.set()
        return await self._lanes.drain(within)

    async def cancel(self) -> None:
        await self._lanes.cancel()

    # --- one record --------------------------------------------------------------------------

    async def _run(
        self,
        record: Record,
        ticket: Ticket[Callable[[], object]],
        per_partition: asyncio.Semaphore,
        lane: Hashable | None,
        *,
        routed: list[RoutedAction] | None = None,
        failure: Failure | None = None,
    ) -> None:
        finished = False
        try:
            with self._metrics.in_flight():
                if failure is None and routed:
                    failure = await self._deliver_all(record, routed, lane)
                if failure is not None:
                    await self._fail(record, failure)
            finished = True
        except FatalDeliveryError as exc:
            self.fatal = exc
            self._on_fatal(exc)
        except Exception as exc:  # a bug must not leave the partition stuck behind this record
            log.exception("unexpected error while handling a record")
            await self._fail(record, Failure(reason="rejected", detail=f"internal error: {exc!r}"))
            finished = True
        finally:
            self._total.release()
            per_partition.release()
            if finished:
                self._acks.finish(ticket)

    async def _deliver_all(
        self, record: Record, routed: list[RoutedAction], lane: Hashable | None
    ) -> Failure | None:
        # Actions of one record run in order: an "add to group" before a "send to group" must land first.
        for item in routed:
            started = time.monotonic()
            while True:
                # The lane is the ordering domain: a persistent transport keeps it on one connection.
                result = await self._client.deliver(item.action, key=lane)
                if result.outcome is Outcome.FAILED_TRANSIENT and await self._wait_out_outage():
                    continue  # the service was down, not this action's fault: try again now it is back
                break
            # One final result per action (the retries are counted by the client's observer).
            self._metrics.delivery_finished(
                _metric_outcome(result), result.reason, time.monotonic() - started, route=item.route
            )
            if not result.ok:
                return failure_from(result, item.route)
        if record.timestamp_ms is not None and routed:
            self._metrics.observe_end_to_end(record.timestamp_ms / 1000)
        return None

    async def _wait_out_outage(self) -> bool:
        """True when no endpoint was up and the bridge waited until one came back."""
        waited = False
        while not any((await self._client.check_health()).values()):
            if not waited:
                log.warning("SignalR service unreachable; holding deliveries until it answers again")
                waited = True
            await asyncio.sleep(self._outage_poll)
        if waited:
            log.info("SignalR service reachable again; resuming deliveries")
        return waited

    async def _fail(self, record: Record, failure: Failure) -> None:
        extra = {
            "reason": failure.reason,
            "route": failure.route,
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
        }
        source = f"{record.topic}[{record.partition}]@{record.offset}"
        if self._dead_letter.dead_letters(failure.reason):
            assert self._dead_letter.topic is not None
            assert self._sink is not None
            await self._send_to_dead_letter(self._dead_letter.topic, record, failure)
            self._metrics.dead_lettered(failure.reason, failure.route, detail=failure.detail, source=source)
            log.warning("record dead-lettered: %s", failure.detail, extra=extra)
        elif self._dead_letter.other_failures == "stop":
            log.error("record failed; stopping as configured: %s", failure.detail, extra=extra)
            raise FatalDeliveryError(f"{failure.reason}: {failure.detail}")
        else:
            self._metrics.record_dropped(failure.reason, failure.route, detail=failure.detail, source=source)
            log.warning("record failed and skipped: %s", failure.detail, extra=extra)

    async def _send_to_dead_letter(self, topic: str, record: Record, failure: Failure) -> None:
        # Until the dead-letter write is confirmed the offset must not move: retry for as long as it takes.
        headers = dead_letter_headers(record, failure)
        delay = 0.5
        while True:
            assert self._sink is not None
            try:
                await self._sink.send(topic, record, headers)
                return
            except Exception:
                log.exception("writing to the dead-letter topic failed; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)


def _lane(record: Record, modes: AbstractSet[str]) -> Hashable | None:
    """The strictest ordering any matched route asks for decides the record's lane."""
    if "partition" in modes:
        return (record.topic, record.partition)
    if "key" in modes and record.key is not None:
        return (record.topic, record.partition, record.key)
    return None  # no ordering asked for, or a null key (Kafka gives null keys no order either)


def _metric_outcome(result: DeliveryResult) -> MetricOutcome:
    if result.outcome is Outcome.DELIVERED:
        return MetricOutcome.DELIVERED
    if result.outcome is Outcome.BENIGN:
        return MetricOutcome.BENIGN
    return MetricOutcome.FAILED
