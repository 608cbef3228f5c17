"""Liveness and readiness, as flags the pipeline flips.

Meanings (served by :mod:`bridge.observability.server`):

* **live** (``/healthz``): the event loop answers (the handler runs at all) and
  the consumer task has not died. Kafka or SignalR being unreachable does
  *not* make the bridge unlive: a restart fixes neither and would only cause
  consumer-group rebalances. A consumer task that ends while the bridge is
  draining is a normal stop, not a death.
* **ready** (``/readyz``): the consumer is running (it joined the group and
  got its assignment, which may be empty when there are more replicas than
  partitions), at least one SignalR endpoint is up, and the bridge is not
  draining. It turns false the moment draining starts. With an upstream
  receiver, Kafka must also take its writes; a bridge with inbound routes only
  (``outbound=False``) has no consumer and no SignalR endpoint to wait for.

The object is only touched from the event loop thread, so it needs no lock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bridge.observability.metrics import BridgeMetrics


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reasons: tuple[str, ...] = ()


class HealthState:
    """What ``/healthz`` and ``/readyz`` report.

    If ``metrics`` is given, endpoint state is mirrored into
    ``signalr_bridge_endpoint_up`` so the pipeline reports it once.
    """

    def __init__(self, metrics: BridgeMetrics | None = None, *, outbound: bool = True) -> None:
        self._metrics = metrics
        self._outbound = outbound
        self._upstream_problem: str | None = None
        self._consumer_task: asyncio.Task[Any] | None = None
        self._consumer_running = False
        self._consumer_failure: str | None = None
        self._draining = False
        self._endpoints: dict[str, bool] = {}

    # -- flipped by the pipeline ------------------------------------------

    def watch_consumer(self, task: asyncio.Task[Any]) -> None:
        """Liveness fails if ``task`` ends (other than by draining)."""
        self._consumer_task = task

    def set_consumer_running(self, running: bool) -> None:
        self._consumer_running = running

    def consumer_failed(self, reason: str) -> None:
        """Mark the consumer dead for a reason the pipeline found (e.g. a fatal Kafka error)."""
        self._consumer_failure = reason
        self._consumer_running = False

    def set_endpoint_up(self, endpoint: str, up: bool) -> None:
        self._endpoints[endpoint] = up
        if self._metrics is not None:
            self._metrics.set_endpoint_up(endpoint, up)

    def set_upstream_kafka(self, up: bool, reason: str = "") -> None:
        """Whether the upstream receiver's producer can write to Kafka now."""
        self._upstream_problem = None if up else f"upstream: {reason or 'Kafka unavailable'}"
        if self._metrics is not None:
            self._metrics.set_upstream_kafka_up(up)

    def start_draining(self) -> None:
        self._draining = True

    @property
    def draining(self) -> bool:
        return self._draining

    # -- read by the server --------------------------------------------------

    def liveness(self) -> Verdict:
        if self._consumer_failure is not None:
            return Verdict(False, (f"consumer failed: {self._consumer_failure}",))
        task = self._consumer_task
        if task is not None and task.done() and not self._draining:
            return Verdict(False, (self._describe_ended(task),))
        return Verdict(True)

    def readiness(self) -> Verdict:
        reasons: list[str] = []
        if self._draining:
            reasons.append("draining")
        live = self.liveness()
        if not live.ok:
            reasons.extend(live.reasons)
        elif self._outbound and not self._consumer_running:
            reasons.append("consumer not running")
        if self._outbound and not any(self._endpoints.values()):
            reasons.append("no SignalR endpoint up")
        if self._upstream_problem is not None:
            reasons.append(self._upstream_problem)
        return Verdict(not reasons, tuple(reasons))

    @staticmethod
    def _describe_ended(task: asyncio.Task[Any]) -> str:
        if task.cancelled():
            return "consumer task was cancelled"
        exc = task.exception()
        if exc is not None:
            # The type only: exception messages may quote configuration.
            return f"consumer task died: {type(exc).__name__}"
        return "consumer task ended"
