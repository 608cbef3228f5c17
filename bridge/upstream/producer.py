"""The Kafka side of the upstream receiver: an idempotent producer that says when Kafka has a record.

``produce`` returns only once the broker confirmed every record (``acks=all``; idempotence
keeps retries inside the producer free of duplicates and in order per partition), or raises:

* :class:`KafkaUnavailableError` — Kafka did not confirm in time, is unreachable, or earlier
  writes are still unconfirmed. An outage: the receiver answers 503 so the service retries.
* :class:`RecordRejectedError` — Kafka refused this record for good (too large). The receiver
  answers 413: retrying cannot help.

After a timeout, the writes that were already handed to the producer stay with it (aiokafka
retries them until Kafka is back). While any of them is unconfirmed, new events are refused at
once instead of queued behind them: each retry of the service would otherwise add one more copy.
When Kafka answers again they complete, and the event the service retries next lands after them,
so per-partition order holds; the price is at most one duplicate per event in flight at the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)

from bridge.config.schema import KafkaConfig

log = logging.getLogger(__name__)

_REJECTED = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    CorruptRecordException,
    UnsupportedForMessageFormatError,
)
_RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)


class KafkaUnavailableError(Exception):
    """Kafka cannot take the record now; the service should retry."""


class RecordRejectedError(Exception):
    """Kafka will never take this record."""


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Written:
    topic: str
    partition: int
    offset: int


class InboundProducer:
    """Owns one :class:`AIOKafkaProducer`; ``start`` returns at once and connects in the background."""

    def __init__(
        self,
        kafka: KafkaConfig,
        *,
        security: dict[str, Any] | None = None,
        on_available: Callable[[bool, str], None] | None = None,
        producer_factory: Callable[..., Any] = AIOKafkaProducer,
    ) -> None:
        """``security``: aiokafka's security keyword arguments (the daemon builds them from the
        ``kafka`` section, as for its consumer); none means PLAINTEXT."""
        self._kafka = kafka
        self._security = security or {}
        self._factory = producer_factory
        self._producer: Any = None
        self._connected = False
        self._available: bool | None = None  # None until the first connection attempt ends
        self._reason = "connecting to Kafka"
        self._unconfirmed: set[asyncio.Future[Any]] = set()
        self._on_available = on_available or (lambda up, reason: None)
        self._task: asyncio.Task[None] | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return bool(self._available)

    @property
    def reason(self) -> str:
        return self._reason

    def _set_available(self, available: bool, reason: str = "") -> None:
        self._reason = reason
        if available == self._available:
            return
        self._available = available
        if available:
            log.info("Kafka takes upstream events")
        else:
            log.warning("Kafka unavailable for upstream events: %s; answering 503 until it is back", reason)
        self._on_available(available, reason)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._keep_connected(), name="upstream-producer")

    async def stop(self, wait_seconds: float = 10.0) -> None:
        """Wait up to ``wait_seconds`` for unconfirmed writes, then close the producer."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._unconfirmed:
            await asyncio.wait(set(self._unconfirmed), timeout=wait_seconds)
        producer, self._producer = self._producer, None
        self._connected, self._available, self._reason = False, False, "stopped"
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), wait_seconds)

    async def _keep_connected(self) -> None:
        attempt = 0
        while self._producer is None:
            producer = self._factory(**self._settings())
            try:
                await producer.start()
            except KafkaError as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                self._set_available(False, f"cannot connect to Kafka ({type(exc).__name__})")
                await asyncio.sleep(_RECONNECT_SECONDS[min(attempt, len(_RECONNECT_SECONDS) - 1)])
                attempt += 1
                continue
            self._producer, self._connected = producer, True
            self._set_available(True)
        while True:  # after an outage with nothing pending, look for Kafka instead of waiting for traffic
            await asyncio.sleep(1.0)
            if not self._available and not self._unconfirmed:
                with contextlib.suppress(KafkaError, TimeoutError):
                    await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 5.0)
                    self._set_available(True)

    def _settings(self) -> dict[str, Any]:
        kafka = self._kafka
        settings: dict[str, Any] = {
            "bootstrap_servers": list(kafka.bootstrap_servers),
            "client_id": f"{kafka.client_id}-upstream",
            "acks": "all",
            "enable_idempotence": True,
            **self._security,
        }
        for name in ("request_timeout_ms", "metadata_max_age_ms", "connections_max_idle_ms"):
            value = getattr(kafka, name)
            if value is not None:
                settings[name] = value
        return settings

    # -- writing -------------------------------------------------------------------------

    async def produce(self, records: Sequence[OutgoingRecord], wait_seconds: float) -> list[Written]:
        """Write ``records``; return where they landed once the broker confirmed all of them."""
        if not self._connected:
            raise KafkaUnavailableError(self._reason)
        if self._unconfirmed:
            raise KafkaUnavailableError("earlier writes are not confirmed yet")
        futures: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(wait_seconds):
                for record in records:
                    futures.append(  # noqa: PERF401 - a loop: what was handed over survives a timeout
                        await self._producer.send(
                            record.topic,
                            record.value,
                            key=record.key,
                            headers=record.headers,
                            timestamp_ms=record.timestamp_ms,
                        )
                    )
                metadata = await asyncio.gather(*(asyncio.shield(f) for f in futures))
        except TimeoutError:
            self._hold(futures)
            self._set_available(False, f"Kafka did not confirm a write within {wait_seconds:g} s")
            raise KafkaUnavailableError(self._reason) from None
        except _REJECTED as exc:
            raise RecordRejectedError(f"Kafka refused the record: {type(exc).__name__}") from None
        except KafkaError as exc:
            self._hold(futures)
            self._set_available(False, f"Kafka write failed ({type(exc).__name__})")
            raise KafkaUnavailableError(self._reason) from None
        self._set_available(True)
        return [Written(m.topic, m.partition, m.offset) for m in metadata]

    def _hold(self, futures: list[asyncio.Future[Any]]) -> None:
        for future in futures:
            if not future.done():
                self._unconfirmed.add(future)
                future.add_done_callback(self._confirmed)

    def _confirmed(self, future: asyncio.Future[Any]) -> None:
        self._unconfirmed.discard(future)
        if not future.cancelled() and future.exception() is None and not self._unconfirmed:
            self._set_available(True)
