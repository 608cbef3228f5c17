"""2023-07-01 / 2024-12-01 operations: client tokens from the service, group listing, client results."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from bridge.emulator import EmulatorServer
from bridge.signalr import DeliveryError, PreflightError, SignalRClient
from bridge.signalr.actions import AddConnectionToGroup
from bridge.signalr.requests import (
    generate_token_request,
    invoke_request,
    list_group_connections_request,
    next_page_request,
)

pytestmark = pytest.mark.integration


def test_newer_operations_raise_the_api_version_they_need() -> None:
    assert ("api-version", "2023-07-01") in generate_token_request(hub="h").query
    assert ("api-version", "2024-12-01") in generate_token_request(hub="h", api_version="2024-12-01").query
    assert ("api-version", "2024-12-01") in list_group_connections_request("g", hub="h").query
    assert invoke_request("c", "t", hub="h").path == "/api/hubs/h/connections/c/:invoke"
    with pytest.raises(PreflightError):
        invoke_request("c", "t", hub="h", api_version="v1")


def test_next_link_must_stay_on_the_endpoint() -> None:
    first = list_group_connections_request("g", hub="h")
    page = next_page_request(
        first, "http://127.0.0.1:5/api/hubs/h/groups/g/connections?continuationToken=2", "http://127.0.0.1:5"
    )
    assert ("continuationToken", "2") in page.query
    with pytest.raises(PreflightError):
        next_page_request(first, "https://elsewhere.example/steal", "http://127.0.0.1:5")


async def test_list_group_connections_follows_pages(client: SignalRClient, listen: Any) -> None:
    listeners = [await listen(user_id=f"user-{i}") for i in range(5)]
    for listener in listeners:
        assert (
            await client.deliver(AddConnectionToGroup(connection_id=listener.connection_id, group="g"))
        ).ok
    members = await client.list_group_connections("g", page_size=2)
    assert sorted(m["connectionId"] for m in members) == sorted(x.connection_id for x in listeners)
    assert {m["userId"] for m in members} == {f"user-{i}" for i in range(5)}
    assert await client.list_group_connections("empty") == []


async def test_invoke_returns_the_client_result(client: SignalRClient, listen: Any) -> None:
    listener = await listen(user_id="ivy")
    listener.answers["add"] = 5
    assert await client.invoke(listener.connection_id, "add", (2, 3)) == 5


async def test_invoke_failure_is_not_retried(
    client: SignalRClient, listen: Any, emulator: EmulatorServer
) -> None:
    listener = await listen(user_id="ivy")  # no answer configured: the client replies with an error
    with pytest.raises(DeliveryError) as info:
        await client.invoke(listener.connection_id, "unknown")
    assert "500" in str(info.value)
    assert emulator.state()["requests"].get("500") == 1
    assert listener.invocations.qsize() == 1  # the client method ran exactly once


async def test_invoke_on_an_unknown_connection(client: SignalRClient) -> None:
    with pytest.raises(DeliveryError, match="NotExisted"):
        await client.invoke("missing", "t")


async def test_client_tokens_locally_and_from_the_service(emulator: EmulatorServer) -> None:
    async with SignalRClient(emulator.connection_string, hub="Chat", health_interval=None) as client:
        url, token = await client.generate_client_token(user_id="zoe", minutes_to_expire=5)
    assert url == f"{emulator.base_url}/client/?hub=chat"
    claims = jwt.decode(
        token,
        emulator.access_key.encode(),
        algorithms=["HS256"],
        audience="http://127.0.0.1/client/?hub=chat",
    )
    assert claims["asrs.s.uid"] == "zoe"
    assert 290 <= claims["exp"] - claims["iat"] <= 300


async def test_client_token_under_entra_comes_from_generate_token(emulator: EmulatorServer) -> None:
    class EmulatorSignedCredential:
        """The emulator has no Entra: a token it accepts for this one URL stands in for one."""

        async def get_token(self, *scopes: str) -> object:
            claims = {"aud": ["http://127.0.0.1/api/hubs/chat/:generateToken"], "exp": 2**31}
            token = jwt.encode(claims, emulator.access_key.encode(), algorithm="HS256")
            return type("T", (), {"token": token, "expires_on": 2**31})()

        async def close(self) -> None:
            pass

    conn = f"Endpoint=http://127.0.0.1;Port={emulator.port};AuthType=azure"
    async with SignalRClient(
        conn, hub="chat", credential=EmulatorSignedCredential(), health_interval=None
    ) as client:
        url, token = await client.generate_client_token(user_id="ann")
    assert url.endswith("/client/?hub=chat")
    claims = jwt.decode(
        token, emulator.access_key.encode(), algorithms=["HS256"], options={"verify_aud": False}
    )
    assert any(v == "ann" for v in claims.values())
