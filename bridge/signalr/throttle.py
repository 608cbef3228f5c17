"""Per-endpoint adaptive concurrency limit, driven by 429 answers.

A 429 halves the number of requests allowed in flight to that endpoint and
pauses the whole endpoint for ``Retry-After`` (or a default pause): every
sender waits, not only the one that was refused. Each success then raises
the limit by ``1/limit`` (additive increase), so throughput recovers in
proportion to how long the service has been accepting again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable


class AdaptiveLimiter:
    def __init__(
        self,
        *,
        max_concurrency: int = 128,
        min_concurrency: int = 1,
        default_pause: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= min_concurrency <= max_concurrency:
            raise ValueError("need 1 <= min_concurrency <= max_concurrency")
        self.max_concurrency = float(max_concurrency)
        self._min = float(min_concurrency)
        self._default_pause = default_pause
        self._clock = clock
        self.limit = self.max_concurrency
        self.in_flight = 0
        self.paused_until = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def paused_for(self) -> float:
        return max(0.0, self.paused_until - self._clock())

    async def acquire(self, deadline: float = math.inf) -> None:
        """Wait for a slot; raise ``TimeoutError`` if none frees up before ``deadline`` (monotonic)."""
        while True:
            now = self._clock()
            if now >= deadline:
                raise TimeoutError("no request slot before the deadline")
            if self.paused_until > now:
                if self.paused_until >= deadline:
                    raise TimeoutError("endpoint throttled past the deadline")
                await asyncio.sleep(self.paused_until - now)
                continue
            if self.in_flight < int(self.limit) and not self._waiters:
                self.in_flight += 1
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(None if math.isinf(deadline) else deadline - now):
                    await waiter
            except BaseException:
                self._discard(waiter)
                raise
            # Woken: a slot is reserved for this waiter (see _wake).
            if self.paused_until <= self._clock():
                return
            # A 429 arrived meanwhile: pass the slot on (each waiter then sleeps out the pause).
            self.in_flight -= 1
            self._wake()

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def on_success(self) -> None:
        if self.limit < self.max_concurrency:
            self.limit = min(self.max_concurrency, self.limit + 1.0 / self.limit)
            self._wake()

    def on_throttled(self, retry_after: float | None) -> float:
        """Record a 429; return how long the endpoint is now paused."""
        self.limit = max(self._min, self.limit / 2)
        pause = self._default_pause if retry_after is None else retry_after
        self.paused_until = max(self.paused_until, self._clock() + pause)
        return pause

    def _wake(self) -> None:
        # Hand free slots to waiters in FIFO order, reserving each slot at hand-over.
        while self._waiters and self.in_flight < int(self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    def _discard(self, waiter: asyncio.Future[None]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        elif waiter.done() and not waiter.cancelled():
            self.in_flight -= 1  # the slot was handed over but the waiter left: pass it on
            self._wake()
