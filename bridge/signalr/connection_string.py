"""Parse Azure SignalR Service connection strings (SIGNALR.md §1).

``Key=Value`` pairs separated by ``;``; keys are case-insensitive; a value may
contain ``=`` (base64 keys end in ``=``), so only the first ``=`` splits. Empty
segments are ignored, a duplicated key is an error. Unknown keys are ignored, as
the .NET SDK parser does, but their names are kept in ``unknown_keys`` so a
typo can be reported.

Errors name the key and never echo the AccessKey or ClientSecret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from .errors import ConnectionStringError

DEFAULT_ENV_VAR = "AzureSignalRConnectionString"
"""The app-setting name the Azure Functions SignalR binding reads by default."""

AUTH_TYPES = ("azure", "azure.msi", "azure.app", "aad")

_VERSION_RE = re.compile(r"^1\.\d+(?:[\w\-.]+)?$")
_SECRET_KEYS = frozenset({"accesskey", "clientsecret"})

# lower-case spelling -> canonical (SDK) spelling; ClientCertPath is the docs' name for ClientCert.
_KNOWN_KEYS = {
    "endpoint": "Endpoint",
    "accesskey": "AccessKey",
    "version": "Version",
    "port": "Port",
    "clientendpoint": "ClientEndpoint",
    "serverendpoint": "ServerEndpoint",
    "authtype": "AuthType",
    "clientid": "ClientId",
    "tenantid": "TenantId",
    "clientsecret": "ClientSecret",
    "clientcert": "ClientCert",
    "clientcertpath": "ClientCert",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionString:
    """A parsed connection string. ``repr`` never shows ``access_key`` or ``client_secret``."""

    endpoint: str
    access_key: str | None = field(default=None, repr=False)
    version: str = "1.0"
    port: int | None = None
    client_endpoint: str | None = None
    server_endpoint: str | None = None
    auth_type: str | None = None
    client_id: str | None = None
    tenant_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    client_cert: str | None = None
    unknown_keys: tuple[str, ...] = ()

    @property
    def uses_entra(self) -> bool:
        """True when REST calls authenticate with Microsoft Entra ID instead of the AccessKey."""
        return self.auth_type is not None

    @property
    def endpoint_with_port(self) -> str:
        """``Endpoint`` with ``Port`` applied (Port replaces the Endpoint's own port)."""
        if self.port is None:
            return self.endpoint
        parts = urlsplit(self.endpoint)
        return _with_port(parts, self.port)

    @property
    def rest_base(self) -> str:
        """REST base URL: ``ServerEndpoint`` if given, else ``Endpoint`` (+ ``Port``); no trailing ``/``."""
        return self.server_endpoint or self.endpoint_with_port

    @property
    def client_base(self) -> str:
        """Base URL handed to clients: ``ClientEndpoint`` if given, else ``Endpoint`` (+ ``Port``)."""
        return self.client_endpoint or self.endpoint_with_port

    @property
    def audience_base(self) -> str:
        """``{scheme}://{host}/`` of ``Endpoint``: JWT audiences never carry a port or a path."""
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{_host(parts)}/"


def parse_connection_string(text: str) -> ConnectionString:
    """Parse ``text``; raise :class:`ConnectionStringError` naming the bad key."""
    values: dict[str, str] = {}
    unknown: list[str] = []
    segments = [s.strip() for s in text.split(";")]
    segments = [s for s in segments if s]
    if len(segments) < 2:
        raise ConnectionStringError(
            "connection string needs at least Endpoint and AccessKey (or AuthType), separated by ';'"
        )
    for index, segment in enumerate(segments):
        name, sep, value = segment.partition("=")
        name = name.strip()
        if not sep or not name:
            # Do not echo the segment: it may be a mangled AccessKey.
            raise ConnectionStringError(f"segment {index + 1} is not of the form Key=Value")
        lower = name.lower()
        canonical = _KNOWN_KEYS.get(lower)
        if canonical is None:
            unknown.append(name)
            continue
        if canonical in values:
            raise ConnectionStringError(f"duplicate key {canonical!r}", key=canonical)
        values[canonical] = value.strip()
    return _build(values, tuple(unknown))


def connection_string_from_env(
    name: str = DEFAULT_ENV_VAR, environ: Mapping[str, str] | None = None
) -> ConnectionString:
    """Read and parse the connection string from environment variable ``name``."""
    env = os.environ if environ is None else environ
    text = env.get(name)
    if not text:
        raise ConnectionStringError(f"environment variable {name!r} is not set or empty", key=name)
    return parse_connection_string(text)


def _build(values: dict[str, str], unknown: tuple[str, ...]) -> ConnectionString:
    endpoint = _url(values, "Endpoint", required=True)
    assert endpoint is not None
    auth_type = _auth_type(values)
    access_key = values.get("AccessKey") or None
    if auth_type is None and access_key is None:
        raise ConnectionStringError("AccessKey is required unless AuthType is given", key="AccessKey")
    client_id = values.get("ClientId") or None
    tenant_id = values.get("TenantId") or None
    client_secret = values.get("ClientSecret") or None
    client_cert = values.get("ClientCert") or None
    if auth_type == "azure.app":
        for key, value in (("ClientId", client_id), ("TenantId", tenant_id)):
            if value is None:
                raise ConnectionStringError(f"{key} is required when AuthType=azure.app", key=key)
        if client_secret is None and client_cert is None:
            raise ConnectionStringError(
                "ClientSecret or ClientCert is required when AuthType=azure.app", key="ClientSecret"
            )
    version = values.get("Version") or "1.0"
    if not _VERSION_RE.match(version):
        raise ConnectionStringError(f"Version {version!r} is not supported (expected 1.x)", key="Version")
    return ConnectionString(
        endpoint=endpoint,
        access_key=access_key,
        version=version,
        port=_port(values),
        client_endpoint=_url(values, "ClientEndpoint"),
        server_endpoint=_url(values, "ServerEndpoint"),
        auth_type=auth_type,
        client_id=client_id,
        tenant_id=tenant_id,
        client_secret=client_secret,
        client_cert=client_cert,
        unknown_keys=unknown,
    )


def _auth_type(values: dict[str, str]) -> str | None:
    raw = values.get("AuthType")
    if not raw:
        return None
    auth = raw.lower()
    if auth not in AUTH_TYPES:
        raise ConnectionStringError(f"AuthType {raw!r} is not one of {', '.join(AUTH_TYPES)}", key="AuthType")
    if auth == "aad":
        # Legacy spelling: an app registration when a secret or cert is given, else managed identity.
        has_app_credential = bool(values.get("ClientSecret") or values.get("ClientCert"))
        return "azure.app" if has_app_credential else "azure.msi"
    return auth


def _url(values: dict[str, str], key: str, *, required: bool = False) -> str | None:
    raw = values.get(key)
    if not raw:
        if required:
            raise ConnectionStringError(f"{key} is required", key=key)
        return None
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise ConnectionStringError(f"{key} is not a valid URL", key=key) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConnectionStringError(f"{key} must be an absolute http or https URL, got {raw!r}", key=key)
    if parts.query or parts.fragment:
        raise ConnectionStringError(f"{key} must not have a query or fragment", key=key)
    return raw.rstrip("/")


def _port(values: dict[str, str]) -> int | None:
    raw = values.get("Port")
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConnectionStringError(f"Port {raw!r} is not an integer in 1..65535", key="Port")
    return int(raw)


def _host(parts: SplitResult) -> str:
    host = parts.hostname or ""
    return f"[{host}]" if ":" in host else host


def _with_port(parts: SplitResult, port: int) -> str:
    netloc = f"{_host(parts)}:{port}"
    if parts.username is not None:
        netloc = f"{parts.username}@{netloc}"
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


__all__ = [
    "AUTH_TYPES",
    "DEFAULT_ENV_VAR",
    "ConnectionString",
    "ConnectionStringError",
    "connection_string_from_env",
    "parse_connection_string",
]
