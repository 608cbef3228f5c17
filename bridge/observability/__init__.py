"""Metrics, health endpoints and structured logs for the bridge daemon."""

from bridge.observability.health import HealthState, Verdict
from bridge.observability.metrics import BridgeMetrics, Outcome, Reason
from bridge.observability.server import ObservabilityServer

__all__ = ["BridgeMetrics", "HealthState", "ObservabilityServer", "Outcome", "Reason", "Verdict"]
