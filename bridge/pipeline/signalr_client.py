"""Build the SignalR client from the ``signalr`` config section."""

from __future__ import annotations

import httpx

from bridge.config.schema import SignalRConfig
from bridge.signalr.client import SignalRClient
from bridge.signalr.connection_string import DEFAULT_ENV_VAR
from bridge.signalr.endpoints import Endpoint
from bridge.signalr.observer import DeliveryObserver
from bridge.signalr.persistent.settings import PersistentSettings
from bridge.signalr.retry import RetryPolicy


class MissingConnectionStringError(ValueError):
    pass


def endpoints_from_config(signalr: SignalRConfig) -> list[Endpoint]:
    if signalr.endpoints:
        return [
            Endpoint.parse(
                e.connection_string.get_secret_value(),
                role=e.role,
                name=e.name,
                transport=e.transport or signalr.transport,
            )
            for e in signalr.endpoints
        ]
    if signalr.connection_string is None:
        # The loader already filled it from the environment when that was set.
        raise MissingConnectionStringError(
            f"no SignalR connection string: set signalr.connection_string or signalr.endpoints "
            f"in the config, or the {DEFAULT_ENV_VAR} environment variable"
        )
    return [Endpoint.parse(signalr.connection_string.get_secret_value(), transport=signalr.transport)]


def client_from_config(signalr: SignalRConfig, *, observer: DeliveryObserver | None = None) -> SignalRClient:
    retry = signalr.retry
    seconds = signalr.timeout_seconds
    return SignalRClient(
        endpoints_from_config(signalr),
        hub=signalr.hub,
        application=signalr.application,
        api_version=signalr.api_version,
        retry=RetryPolicy(
            max_attempts=retry.max_attempts,
            base_delay=retry.base_backoff_seconds,
            max_delay=retry.max_backoff_seconds,
            max_elapsed=retry.max_elapsed_seconds,
        ),
        timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)),
        observer=observer,
        persistent=PersistentSettings(
            connections=signalr.persistent.connections,
            messagepack=signalr.persistent.messagepack,
            ack_timeout=signalr.persistent.ack_timeout_seconds,
            queue_timeout=seconds,
        ),
    )
