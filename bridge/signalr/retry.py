"""Backoff policy: exponential with jitter, bounded by attempts and by total time."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 6
    """Attempts per endpoint, the first one included."""
    base_delay: float = 0.1
    max_delay: float = 10.0
    max_elapsed: float = 60.0
    """Total seconds one delivery may spend on one endpoint, waits included."""
    max_retry_after: float = 60.0
    """A ``Retry-After`` longer than this gives up instead of waiting (the endpoint stays throttled)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay or self.max_elapsed <= 0:
            raise ValueError("delays must satisfy 0 <= base_delay <= max_delay and max_elapsed > 0")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Delay before retry ``retry_number`` (1-based): "equal jitter" in [d/2, d], d = base * 2^(n-1)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry_number - 1))
        draw = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2


NO_RETRY = RetryPolicy(max_attempts=1)
