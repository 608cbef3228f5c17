"""Dead-letter records: the original key, value and headers plus headers that say why.

Header names (all values UTF-8 text), so that ``dlq replay`` and people reading the topic
with any Kafka tool see the same facts:

    bridge.error.reason       stable code: decode_error, missing_field, rejected, retries_exhausted, ...
    bridge.error.detail       human-readable message
    bridge.error.route        the route that failed (absent when none matched yet)
    bridge.error.http_status  the service's last HTTP status, if any
    bridge.error.code         the service's x-ms-error-code, if any
    bridge.error.attempts     REST attempts made
    bridge.source.topic / .partition / .offset / .timestamp   where the record came from
    bridge.failed_at          when the bridge gave up (epoch milliseconds)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bridge.routing import Record
from bridge.signalr.delivery import DeliveryResult
from bridge.signalr.outcome import Outcome

PREFIX = "bridge."


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why a record could not be delivered. ``reason`` is one of the config's failure reasons."""

    reason: str
    detail: str
    route: str | None = None
    status: int | None = None
    error_code: str | None = None
    attempts: int = 0


def failure_from(result: DeliveryResult, route: str) -> Failure:
    """The failure of a delivery that did not succeed: retries ran out, or the service said no."""
    return Failure(
        reason="retries_exhausted" if result.outcome is Outcome.FAILED_TRANSIENT else "rejected",
        detail=result.detail,
        route=route,
        status=result.status,
        error_code=result.error_code,
        attempts=result.attempts,
    )


def original_record(dead: Record) -> Record:
    """The source record of a dead-lettered one: where it came from, with its own headers only."""
    facts = error_headers(dead.headers)
    timestamp = facts.get("source.timestamp")
    return Record(
        topic=facts.get("source.topic", dead.topic),
        partition=int(facts.get("source.partition", dead.partition)),
        offset=int(facts.get("source.offset", dead.offset)),
        timestamp_ms=int(timestamp) if timestamp is not None else dead.timestamp_ms,
        key=dead.key,
        value=dead.value,
        headers=tuple((k, v) for k, v in dead.headers if not k.startswith(PREFIX)),
    )


def dead_letter_headers(
    record: Record, failure: Failure, *, now_ms: int | None = None
) -> list[tuple[str, bytes]]:
    # Earlier bridge.* headers (a replayed record that failed again) are replaced, not stacked.
    headers = [(k, v) for k, v in record.headers if not k.startswith(PREFIX)]
    facts: dict[str, object | None] = {
        "error.reason": failure.reason,
        "error.detail": failure.detail,
        "error.route": failure.route,
        "error.http_status": failure.status,
        "error.code": failure.error_code,
        "error.attempts": failure.attempts,
        "source.topic": record.topic,
        "source.partition": record.partition,
        "source.offset": record.offset,
        "source.timestamp": record.timestamp_ms,
        "failed_at": now_ms if now_ms is not None else int(time.time() * 1000),
    }
    headers += [(PREFIX + name, str(value).encode()) for name, value in facts.items() if value is not None]
    return headers


def error_headers(headers: tuple[tuple[str, bytes], ...] | list[tuple[str, bytes]]) -> Mapping[str, str]:
    """The ``bridge.*`` headers of a dead-lettered record, decoded, without the prefix."""
    return {k.removeprefix(PREFIX): v.decode(errors="replace") for k, v in headers if k.startswith(PREFIX)}


class DeadLetterSink(Protocol):
    async def send(self, topic: str, record: Record, headers: list[tuple[str, bytes]]) -> None:
        """Produce to ``topic`` and return only once the broker acknowledged the write."""
