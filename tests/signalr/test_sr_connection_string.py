"""Connection strings as users paste them: every key, any case, helpful errors without secrets."""

from __future__ import annotations

import pytest

from bridge.signalr.connection_string import (
    DEFAULT_ENV_VAR,
    connection_string_from_env,
    parse_connection_string,
)
from bridge.signalr.errors import ConnectionStringError, SignalRError

pytestmark = pytest.mark.unit

KEY = "Zm9vYmFyYmF6cXV4c2VjcmV0a2V5PT0rLw=="  # base64-looking, ends in '='


def test_emulator_string_resolves_urls_with_port_but_audience_without() -> None:
    conn = parse_connection_string(
        "Endpoint=http://localhost;Port=8888;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;Version=1.0;"
    )
    assert conn.rest_base == "http://localhost:8888"
    assert conn.client_base == "http://localhost:8888"
    assert conn.audience_base == "http://localhost/"
    assert conn.access_key == "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
    assert conn.version == "1.0"


def test_keys_are_case_insensitive_and_values_keep_their_equals_signs() -> None:
    conn = parse_connection_string(f"ENDPOINT=https://x.service.signalr.net/;accesskey={KEY};VERSION=1.0")
    assert conn.endpoint == "https://x.service.signalr.net"
    assert conn.access_key == KEY


def test_server_and_client_endpoints_replace_their_bases_but_not_the_audience() -> None:
    conn = parse_connection_string(
        f"Endpoint=https://x.service.signalr.net;AccessKey={KEY};"
        "ServerEndpoint=https://internal.example:8443/;ClientEndpoint=https://public.example"
    )
    assert conn.rest_base == "https://internal.example:8443"
    assert conn.client_base == "https://public.example"
    assert conn.audience_base == "https://x.service.signalr.net/"


def test_port_replaces_the_endpoint_port() -> None:
    conn = parse_connection_string(f"Endpoint=https://x.example:1234;AccessKey={KEY};Port=443")
    assert conn.rest_base == "https://x.example:443"
    assert conn.audience_base == "https://x.example/"


@pytest.mark.parametrize(
    ("text", "auth_type"),
    [
        ("Endpoint=https://x.example;AuthType=azure", "azure"),
        ("Endpoint=https://x.example;AuthType=Azure.MSI;ClientId=abc", "azure.msi"),
        ("Endpoint=https://x.example;AuthType=azure.app;ClientId=a;TenantId=t;ClientSecret=s", "azure.app"),
        (
            "Endpoint=https://x.example;AuthType=azure.app;ClientId=a;TenantId=t;ClientCertPath=/c.pem",
            "azure.app",
        ),
        ("Endpoint=https://x.example;AuthType=aad;ClientId=a", "azure.msi"),
        ("Endpoint=https://x.example;AuthType=aad;ClientId=a;TenantId=t;ClientSecret=s", "azure.app"),
    ],
)
def test_entra_auth_types_need_no_access_key(text: str, auth_type: str) -> None:
    conn = parse_connection_string(text)
    assert conn.auth_type == auth_type
    assert conn.uses_entra
    assert conn.access_key is None


def test_repr_never_shows_secrets() -> None:
    conn = parse_connection_string(
        f"Endpoint=https://x.example;AccessKey={KEY};ClientSecret=topsecretvalue;ClientId=a"
    )
    text = repr(conn) + str(conn)
    assert KEY not in text
    assert "topsecretvalue" not in text
    assert "x.example" in text


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f"AccessKey={KEY};Version=1.0", "Endpoint"),
        ("Endpoint=https://x.example;Version=1.0", "AccessKey"),
        (f"Endpoint=ftp://x.example;AccessKey={KEY}", "Endpoint"),
        (f"Endpoint=https://x.example;AccessKey={KEY};Port=99999", "Port"),
        (f"Endpoint=https://x.example;AccessKey={KEY};Version=2.0", "Version"),
        (f"Endpoint=https://x.example;AccessKey={KEY};AuthType=kerberos", "AuthType"),
        (f"Endpoint=https://x.example;AccessKey={KEY};endpoint=https://y.example", "Endpoint"),
        ("Endpoint=https://x.example;AuthType=azure.app;TenantId=t;ClientSecret=s", "ClientId"),
        ("Endpoint=https://x.example;AuthType=azure.app;ClientId=a;TenantId=t", "ClientSecret"),
        (f"Endpoint=https://x.example;AccessKey={KEY};ClientEndpoint=not a url", "ClientEndpoint"),
    ],
)
def test_errors_name_the_key_and_never_echo_the_access_key(text: str, key: str) -> None:
    with pytest.raises(ConnectionStringError) as info:
        parse_connection_string(text)
    assert info.value.key == key
    assert key.lower() in str(info.value).lower()
    assert KEY not in str(info.value)
    assert isinstance(info.value, SignalRError)


def test_a_mangled_segment_is_reported_by_position_not_content() -> None:
    with pytest.raises(ConnectionStringError) as info:
        parse_connection_string(f"Endpoint=https://x.example;{KEY.rstrip('=')}")
    assert "segment 2" in str(info.value)
    assert KEY.rstrip("=") not in str(info.value)


def test_unknown_keys_are_kept_for_diagnostics() -> None:
    conn = parse_connection_string(f"Endpoint=https://x.example;AccessKey={KEY};Colour=blue")
    assert conn.unknown_keys == ("Colour",)


def test_functions_setting_name_is_the_default_environment_variable() -> None:
    assert DEFAULT_ENV_VAR == "AzureSignalRConnectionString"
    conn = connection_string_from_env(
        environ={DEFAULT_ENV_VAR: f"Endpoint=https://x.example;AccessKey={KEY}"}
    )
    assert conn.endpoint == "https://x.example"
    with pytest.raises(ConnectionStringError, match=DEFAULT_ENV_VAR):
        connection_string_from_env(environ={})
