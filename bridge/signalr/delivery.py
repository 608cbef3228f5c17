"""What one delivery amounted to, per endpoint and overall."""

from __future__ import annotations

from dataclasses import dataclass

from .actions import Action
from .errors import DeliveryError
from .outcome import Outcome, Verdict
from .requests import RestRequest

# Worst first: the overall outcome is the worst outcome of any endpoint.
_SEVERITY = (Outcome.FAILED_PERMANENT, Outcome.FAILED_TRANSIENT, Outcome.DELIVERED, Outcome.BENIGN)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointResult:
    endpoint: str
    role: str
    outcome: Outcome
    verdict: Verdict
    attempts: int
    seconds: float
    stand_in_for: str | None = None
    """Set when this secondary took over for that primary, which was down."""
    replaced_by: str | None = None
    """Set on a failed primary whose secondary stand-in delivered; it no longer decides the outcome."""

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.DELIVERED, Outcome.BENIGN)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    action: Action | RestRequest
    outcome: Outcome
    reason: str
    """Short stable reason of the deciding endpoint: ``ok``, ``already-so``, ``preflight``..."""
    detail: str
    """Human-readable: reason, HTTP status, ``x-ms-error-code``, endpoint."""
    status: int | None = None
    error_code: str | None = None
    attempts: int = 0
    endpoints: tuple[EndpointResult, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.DELIVERED, Outcome.BENIGN)

    @property
    def partial(self) -> bool:
        """Some endpoints took the action and others did not: those endpoints' clients missed it."""
        deciding = [r for r in self.endpoints if r.replaced_by is None]
        return any(r.ok for r in deciding) and any(not r.ok for r in deciding)

    @property
    def failed_endpoints(self) -> tuple[str, ...]:
        return tuple(r.endpoint for r in self.endpoints if not r.ok and r.replaced_by is None)

    def raise_for_outcome(self) -> DeliveryResult:
        """Return self when ok, else raise :class:`DeliveryError` carrying this result."""
        if not self.ok:
            raise DeliveryError(f"{self.outcome}: {self.detail}", result=self)
        return self

    @classmethod
    def combine(cls, action: Action | RestRequest, results: list[EndpointResult]) -> DeliveryResult:
        deciding = [r for r in results if r.replaced_by is None] or results
        decisive = min(deciding, key=lambda r: _SEVERITY.index(r.outcome))
        verdict = decisive.verdict
        return cls(
            action=action,
            outcome=decisive.outcome,
            reason=verdict.reason,
            detail=f"{verdict.describe()} (endpoint {decisive.endpoint})",
            status=verdict.status,
            error_code=verdict.error_code,
            attempts=sum(r.attempts for r in results),
            endpoints=tuple(results),
        )

    @classmethod
    def preflight_failure(cls, action: Action | RestRequest, message: str) -> DeliveryResult:
        return cls(action=action, outcome=Outcome.FAILED_PERMANENT, reason="preflight", detail=message)
