"""Fault injection for the bridge's reliability tests (test hooks only).

A counted fault makes the next N REST data-plane requests answer ``status`` (or drop
the TCP connection) after ``latency_ms``; a standing latency (``count=None``) slows
every REST request until cleared. Negotiate, client sockets and hooks are never hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What one REST request should suffer; ``status is None`` means only latency."""

    status: int | None
    retry_after: float | None
    latency_ms: float
    drop: bool
    error_code: str | None
    path_contains: str | None = None
    """Only requests whose path contains this text suffer (and count); None means every one."""


class FaultError(ValueError):
    """A fault request that makes no sense (400 from the hook)."""


class FaultInjector:
    def __init__(self) -> None:
        self._remaining = 0
        self._fault: Fault | None = None
        self._standing_latency_ms = 0.0

    def inject(
        self,
        count: int | None = 1,
        status: int | None = None,
        *,
        retry_after: float | None = None,
        latency_ms: float = 0.0,
        drop: bool = False,
        error_code: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        if latency_ms < 0 or (retry_after is not None and retry_after < 0):
            raise FaultError("latency_ms and retry_after must not be negative")
        if status is not None and not 100 <= status <= 599:
            raise FaultError("status must be an HTTP status code")
        if count is None:
            if status is not None or drop:
                raise FaultError("a fault without count may only add latency")
            self._standing_latency_ms = latency_ms
            return
        if count < 0:
            raise FaultError("count must not be negative")
        self._remaining = count
        self._fault = Fault(status, retry_after, latency_ms, drop, error_code, path_contains)

    def inject_json(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise FaultError("body must be a JSON object")
        try:
            self.inject(
                body.get("count", 1),
                body.get("status"),
                retry_after=body.get("retry_after"),
                latency_ms=body.get("latency_ms") or 0.0,
                drop=bool(body.get("drop", False)),
                error_code=body.get("error_code"),
                path_contains=body.get("path_contains"),
            )
        except TypeError as exc:
            raise FaultError(str(exc)) from exc

    def clear(self) -> None:
        self._remaining = 0
        self._fault = None
        self._standing_latency_ms = 0.0

    def next(self, path: str = "") -> tuple[float, Fault | None]:
        """Consume one request: (latency seconds to add, the fault to answer or None)."""
        latency = self._standing_latency_ms
        fault = None
        wanted = self._fault is not None and (
            self._fault.path_contains is None or self._fault.path_contains in path
        )
        if self._remaining > 0 and self._fault is not None and wanted:
            self._remaining -= 1
            fault = self._fault
            latency += fault.latency_ms
        return latency / 1000.0, fault

    def describe(self) -> dict[str, Any]:
        fault = self._fault if self._remaining > 0 else None
        return {
            "remaining": self._remaining,
            "status": fault.status if fault else None,
            "retry_after": fault.retry_after if fault else None,
            "latency_ms": fault.latency_ms if fault else 0,
            "drop": fault.drop if fault else False,
            "path_contains": fault.path_contains if fault else None,
            "standing_latency_ms": self._standing_latency_ms,
        }
