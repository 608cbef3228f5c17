"""The AccessKeys whose upstream signatures the receiver accepts."""

from __future__ import annotations

from bridge.config.schema import BridgeConfig
from bridge.signalr.connection_string import parse_connection_string


def access_keys(config: BridgeConfig) -> list[str]:
    """``upstream.access_keys`` plus the AccessKey of every configured connection string.

    Functions turns signature checks off when a connection string has no AccessKey
    (Microsoft Entra ID); the bridge never does: without a key it does not start.
    """
    keys = [key.get_secret_value() for key in config.upstream.access_keys] if config.upstream else []
    signalr = config.signalr
    strings = [endpoint.connection_string for endpoint in signalr.endpoints]
    if signalr.connection_string is not None:
        strings.append(signalr.connection_string)
    for secret in strings:
        key = parse_connection_string(secret.get_secret_value()).access_key
        if key:
            keys.append(key)
    return list(dict.fromkeys(keys))


def key_problems(config: BridgeConfig, file: str) -> list[str]:
    """Why the receiver could not check signatures (connection strings without an AccessKey)."""
    if config.upstream is None or not config.signalr.has_connection or access_keys(config):
        return []  # without any connection string, the loader's startup_problems says so
    return [
        f"{file}: upstream: no AccessKey to check the service's signatures (the connection strings use "
        "Microsoft Entra ID): add the service's AccessKey to upstream.access_keys"
    ]
