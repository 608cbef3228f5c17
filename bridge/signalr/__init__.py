"""Delivery to Azure SignalR Service over its data-plane REST API.

Start with :class:`SignalRClient` (``deliver(action) -> DeliveryResult``), the
actions in :mod:`bridge.signalr.actions`, and :func:`parse_connection_string`.
"""

from .client import SignalRClient
from .connection_string import DEFAULT_ENV_VAR, ConnectionString, parse_connection_string
from .delivery import DeliveryResult, EndpointResult
from .endpoints import Endpoint, EndpointRole
from .errors import (
    AuthError,
    ClientClosedError,
    ConnectionStringError,
    DeliveryError,
    PreflightError,
    SignalRError,
)
from .observer import CountingObserver, DeliveryObserver
from .outcome import Outcome, Verdict
from .requests import RestRequest, build_request
from .retry import RetryPolicy
from .tokens import client_access, sign_access_token

__all__ = [
    "DEFAULT_ENV_VAR",
    "AuthError",
    "ClientClosedError",
    "ConnectionString",
    "ConnectionStringError",
    "CountingObserver",
    "DeliveryError",
    "DeliveryObserver",
    "DeliveryResult",
    "Endpoint",
    "EndpointResult",
    "EndpointRole",
    "Outcome",
    "PreflightError",
    "RestRequest",
    "RetryPolicy",
    "SignalRClient",
    "SignalRError",
    "Verdict",
    "build_request",
    "client_access",
    "parse_connection_string",
    "sign_access_token",
]
