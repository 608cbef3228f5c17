"""Hooks the daemon's metrics subscribe to; this package never imports a metrics library.

Subclass :class:`DeliveryObserver` and override what you need; every hook is
called synchronously on the event loop, so keep it cheap and never raise.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .delivery import DeliveryResult
    from .outcome import Verdict


class DeliveryObserver:
    """No-op base: one call per attempt, per retry, per final result, per health change, per 429."""

    def on_attempt(self, endpoint: str, operation: str, verdict: Verdict, seconds: float) -> None:
        """After every HTTP attempt (or transport failure) against one endpoint."""

    def on_retry(self, endpoint: str, operation: str, verdict: Verdict, delay: float) -> None:
        """Before waiting ``delay`` seconds to retry after ``verdict``."""

    def on_result(self, result: DeliveryResult) -> None:
        """Once per delivered/benign/failed action, after all endpoints answered."""

    def on_endpoint_health(self, endpoint: str, online: bool, reason: str) -> None:
        """When an endpoint goes offline or comes back."""

    def on_throttled(self, endpoint: str, limit: float, pause: float) -> None:
        """After a 429: the endpoint's new concurrency limit and pause in seconds."""

    # Persistent transport: called per connection change, per WebSocket frame and per ack.

    def on_server_connections(self, endpoint: str, up: int, reconnected: bool) -> None:
        """A server connection came up (``reconnected`` after an earlier failure) or went down."""

    def on_frame(self, endpoint: str, messages: int) -> None:
        """A WebSocket message carrying ``messages`` service messages (barriers included) was written."""

    def on_barrier(self, endpoint: str, seconds: float, confirmed: int) -> None:
        """An ack came back ``seconds`` after its message was written, confirming ``confirmed`` sends."""

    def on_unconfirmed(self, endpoint: str, count: int) -> None:
        """Sends written to the endpoint and not yet confirmed, now."""


class CountingObserver(DeliveryObserver):
    """Keeps counters in memory: handy for tests, logs and a simple status page."""

    def __init__(self) -> None:
        self.attempts: Counter[tuple[str, str]] = Counter()  # (endpoint, reason)
        self.retries: Counter[tuple[str, str]] = Counter()  # (endpoint, reason)
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (outcome, reason)
        self.partial_failures = 0
        self.health_changes: list[tuple[str, bool, str]] = []
        self.throttles: list[tuple[str, float, float]] = []
        self.connections_up: dict[str, int] = {}
        self.reconnects: Counter[str] = Counter()
        self.frames: list[int] = []
        self.confirmed = 0

    def on_attempt(self, endpoint: str, operation: str, verdict: Verdict, seconds: float) -> None:
        self.attempts[endpoint, verdict.reason] += 1

    def on_retry(self, endpoint: str, operation: str, verdict: Verdict, delay: float) -> None:
        self.retries[endpoint, verdict.reason] += 1

    def on_result(self, result: DeliveryResult) -> None:
        self.outcomes[str(result.outcome), result.reason] += 1
        if result.partial:
            self.partial_failures += 1

    def on_endpoint_health(self, endpoint: str, online: bool, reason: str) -> None:
        self.health_changes.append((endpoint, online, reason))

    def on_throttled(self, endpoint: str, limit: float, pause: float) -> None:
        self.throttles.append((endpoint, limit, pause))

    def on_server_connections(self, endpoint: str, up: int, reconnected: bool) -> None:
        self.connections_up[endpoint] = up
        if reconnected:
            self.reconnects[endpoint] += 1

    def on_frame(self, endpoint: str, messages: int) -> None:
        self.frames.append(messages)

    def on_barrier(self, endpoint: str, seconds: float, confirmed: int) -> None:
        self.confirmed += confirmed
