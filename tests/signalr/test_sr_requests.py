"""Every action becomes the request the swagger describes, for 2022-06-01+ and for v1."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from bridge.signalr.actions import (
    Action,
    AddConnectionToGroup,
    AddUserToGroup,
    CloseConnection,
    RemoveConnectionFromAllGroups,
    RemoveConnectionFromGroup,
    RemoveUserFromAllGroups,
    RemoveUserFromGroup,
    SendToAll,
    SendToConnection,
    SendToGroup,
    SendToUser,
)
from bridge.signalr.errors import PreflightError
from bridge.signalr.requests import (
    MAX_BODY_BYTES,
    build_request,
    close_connections_request,
    connection_exists_request,
    group_exists_request,
    health_request,
    user_exists_request,
    user_in_group_request,
)

pytestmark = pytest.mark.unit

CASES: list[tuple[Action, str, str, str]] = [
    (SendToAll(target="t"), "POST", "/api/hubs/chat/:send", "/api/v1/hubs/chat"),
    (
        SendToUser(target="t", user_id="u"),
        "POST",
        "/api/hubs/chat/users/u/:send",
        "/api/v1/hubs/chat/users/u",
    ),
    (
        SendToGroup(target="t", group="g"),
        "POST",
        "/api/hubs/chat/groups/g/:send",
        "/api/v1/hubs/chat/groups/g",
    ),
    (
        SendToConnection(target="t", connection_id="c"),
        "POST",
        "/api/hubs/chat/connections/c/:send",
        "/api/v1/hubs/chat/connections/c",
    ),
    (
        AddUserToGroup(user_id="u", group="g"),
        "PUT",
        "/api/hubs/chat/users/u/groups/g",
        "/api/v1/hubs/chat/groups/g/users/u",
    ),
    (
        RemoveUserFromGroup(user_id="u", group="g"),
        "DELETE",
        "/api/hubs/chat/users/u/groups/g",
        "/api/v1/hubs/chat/groups/g/users/u",
    ),
    (
        RemoveUserFromAllGroups(user_id="u"),
        "DELETE",
        "/api/hubs/chat/users/u/groups",
        "/api/v1/hubs/chat/users/u/groups",
    ),
    (
        AddConnectionToGroup(connection_id="c", group="g"),
        "PUT",
        "/api/hubs/chat/groups/g/connections/c",
        "/api/v1/hubs/chat/groups/g/connections/c",
    ),
    (
        RemoveConnectionFromGroup(connection_id="c", group="g"),
        "DELETE",
        "/api/hubs/chat/groups/g/connections/c",
        "/api/v1/hubs/chat/groups/g/connections/c",
    ),
    (
        CloseConnection(connection_id="c"),
        "DELETE",
        "/api/hubs/chat/connections/c",
        "/api/v1/hubs/chat/connections/c",
    ),
]


@pytest.mark.parametrize(("action", "method", "path", "v1_path"), CASES)
@pytest.mark.parametrize("version", ["2022-06-01", "2023-07-01", "2024-12-01"])
def test_paths_and_api_version(action: Action, method: str, path: str, v1_path: str, version: str) -> None:
    request = build_request(action, hub="Chat", api_version=version)
    assert (request.method, request.path) == (method, path)
    assert ("api-version", version) in request.query


@pytest.mark.parametrize(("action", "method", "path", "v1_path"), CASES)
def test_v1_paths_have_no_api_version(action: Action, method: str, path: str, v1_path: str) -> None:
    request = build_request(action, hub="Chat", api_version="v1")
    assert (request.method, request.path) == (method, v1_path)
    assert all(k != "api-version" for k, _ in request.query)


def test_remove_connection_from_all_groups_exists_only_since_2022() -> None:
    action = RemoveConnectionFromAllGroups(connection_id="c")
    assert build_request(action, hub="h").path == "/api/hubs/h/connections/c/groups"
    with pytest.raises(PreflightError):
        build_request(action, hub="h", api_version="v1")


def test_message_body_excluded_and_application_prefix() -> None:
    action = SendToGroup(target="news", arguments=({"a": 1}, "é"), group="g", excluded=("c1", "c 2"))
    request = build_request(action, hub="Chat", application="Shop")
    assert request.content is not None
    assert json.loads(request.content) == {"target": "news", "arguments": [{"a": 1}, "é"]}
    assert request.headers["Content-Type"] == "application/json"
    url = request.url("https://x.example:8443/")
    parts = urlsplit(url)
    assert parts.netloc == "x.example:8443"
    assert parse_qsl(parts.query) == [
        ("application", "shop"),
        ("api-version", "2022-06-01"),
        ("excluded", "c1"),
        ("excluded", "c 2"),
    ]
    assert "c%202" in parts.query  # %20, never '+', which some parsers keep literally


def test_path_segments_are_percent_encoded_like_escape_data_string() -> None:
    request = build_request(SendToUser(target="t", user_id="a/b?c#d :é"), hub="h")
    assert request.path == "/api/hubs/h/users/a%2Fb%3Fc%23d%20%3A%C3%A9/:send"


def test_action_hub_overrides_the_default_and_is_lower_cased() -> None:
    assert build_request(SendToAll(target="t", hub="Other"), hub="Chat").path == "/api/hubs/other/:send"


def test_ttl_and_reason_are_query_parameters() -> None:
    add = build_request(AddUserToGroup(user_id="u", group="g", ttl=0), hub="h")
    assert ("ttl", "0") in add.query
    close = build_request(CloseConnection(connection_id="c", reason="bye now"), hub="h")
    assert ("reason", "bye now") in close.query


def test_audience_is_the_url_without_query_on_the_audience_base() -> None:
    request = build_request(SendToAll(target="t", excluded=("x",)), hub="h")
    assert request.audience("https://x.example/") == "https://x.example/api/hubs/h/:send"


@pytest.mark.parametrize(
    "action",
    [
        SendToAll(target="t", hub="1bad"),
        SendToAll(target="t", hub="has space"),
        SendToAll(target=""),
        SendToGroup(target="t", group="   "),
        SendToGroup(target="t", group="g" * 1025),
        SendToUser(target="t", user_id=""),
        SendToConnection(target="t", connection_id=""),
        AddUserToGroup(user_id="u", group="g", ttl=-1),
        SendToAll(target="t", excluded=("",)),
        SendToAll(target="t", arguments=(object(),)),
        SendToAll(target="t", arguments=(float("nan"),)),
    ],
)
def test_preflight_rejects_what_the_service_would_reject(action: Action) -> None:
    with pytest.raises(PreflightError):
        build_request(action, hub="h")


def test_body_over_one_megabyte_fails_before_sending() -> None:
    overhead = len(b'{"target":"t","arguments":[""]}')
    fits = SendToAll(target="t", arguments=("x" * (MAX_BODY_BYTES - overhead),))
    assert build_request(fits, hub="h").content is not None
    with pytest.raises(PreflightError, match="1048576"):
        build_request(SendToAll(target="t", arguments=("x" * (MAX_BODY_BYTES - overhead + 1),)), hub="h")


def test_too_many_excluded_connections_exceed_the_header_limit() -> None:
    excluded = tuple(f"connection-{i:06d}" for i in range(1000))
    with pytest.raises(PreflightError, match="limit"):
        build_request(SendToAll(target="t", excluded=excluded), hub="h")


def test_checks_health_and_bulk_close() -> None:
    assert health_request().path == "/api/health"
    assert health_request(api_version="v1").path == "/api/v1/health"
    assert connection_exists_request("c", hub="H").path == "/api/hubs/h/connections/c"
    assert user_exists_request("u", hub="h").method == "HEAD"
    assert group_exists_request("g", hub="h").path == "/api/hubs/h/groups/g"
    assert user_in_group_request("u", "g", hub="h").path == "/api/hubs/h/users/u/groups/g"
    close = close_connections_request(hub="h", group="g", excluded=("c",), reason="r")
    assert (close.method, close.path) == ("POST", "/api/hubs/h/groups/g/:closeConnections")
    assert ("excluded", "c") in close.query
    assert close_connections_request(hub="h", user_id="u").path == "/api/hubs/h/users/u/:closeConnections"
    assert close_connections_request(hub="h").path == "/api/hubs/h/:closeConnections"
    with pytest.raises(PreflightError):
        close_connections_request(hub="h", group="g", user_id="u")
