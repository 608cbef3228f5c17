"""Delivery to Azure SignalR Service over its data-plane REST API.

Start with :class:`SignalRClient` (``deliver(action) -> DeliveryResult``), the
actions in :mod:`bridge.signalr.actions`, and :func:`parse_connection_string`.

The names below are imported on first use (PEP 562): ``bridge.signalr.names`` or
``.actions`` alone, as config checks need them, load no HTTP client, JWT or aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_MODULE_OF = {
    "SignalRClient": "client",
    "DEFAULT_ENV_VAR": "connection_string",
    "ConnectionString": "connection_string",
    "parse_connection_string": "connection_string",
    "DeliveryResult": "delivery",
    "EndpointResult": "delivery",
    "Endpoint": "endpoints",
    "EndpointRole": "endpoints",
    "AuthError": "errors",
    "ClientClosedError": "errors",
    "ConnectionStringError": "errors",
    "DeliveryError": "errors",
    "PreflightError": "errors",
    "SignalRError": "errors",
    "CountingObserver": "observer",
    "DeliveryObserver": "observer",
    "Outcome": "outcome",
    "Verdict": "outcome",
    "RestRequest": "requests",
    "build_request": "requests",
    "RetryPolicy": "retry",
    "client_access": "tokens",
    "sign_access_token": "tokens",
}

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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value
