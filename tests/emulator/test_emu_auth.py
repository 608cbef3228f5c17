"""REST and client authentication is as strict as the service: key, aud, exp, token kind."""

from __future__ import annotations

import time

import jwt
import pytest
from emu_support import ACCESS_KEY, Clients, Rest, client_token, sign

pytestmark = pytest.mark.integration

SEND = "/api/hubs/chat/:send"
BODY = {"target": "t", "arguments": []}
AUD = "http://127.0.0.1" + SEND


async def _send_with(rest: Rest, token: str | None) -> tuple[int, str]:
    response = await rest.call("POST", SEND, json_body=BODY, token=token, auto_token=False)
    return response.status_code, response.headers.get("WWW-Authenticate", "")


async def test_docs_form_token_is_accepted(rest: Rest) -> None:
    assert await _send_with(rest, sign(AUD)) == (202, "")


async def test_sdk_form_token_with_query_in_aud_is_accepted(rest: Rest) -> None:
    assert (await _send_with(rest, sign(AUD + "?api-version=2022-06-01")))[0] == 202


async def test_missing_authorization_header_is_401_with_bare_challenge(rest: Rest) -> None:
    assert await _send_with(rest, None) == (401, "Bearer")


@pytest.mark.parametrize(
    ("token", "description"),
    [
        (sign(AUD, key="wrong-key-0123456789abcdefghijklmnopqrstuvwxyz"), "The signature is invalid"),
        (sign("http://127.0.0.1/api/hubs/other/:send"), "The audience is invalid"),
        (sign("http://127.0.0.1:8888" + SEND), "The audience is invalid"),  # aud never has a port
        (sign("https://127.0.0.1" + SEND), "The audience is invalid"),
        (sign(AUD, lifetime=-60), "The token is expired"),
        (client_token("chat"), "The audience is invalid"),  # a client token is not a REST token
        (jwt.encode({"aud": AUD}, ACCESS_KEY.encode(), algorithm="HS256"), "The token has no 'exp' claim"),
    ],
    ids=["wrong-key", "wrong-aud", "aud-with-port", "wrong-scheme", "expired", "client-token", "no-exp"],
)
async def test_bad_rest_tokens_are_401_with_a_description(rest: Rest, token: str, description: str) -> None:
    status, challenge = await _send_with(rest, token)
    assert status == 401
    assert f'error_description="{description}"' in challenge


async def test_unsigned_token_is_refused(rest: Rest) -> None:
    unsigned = jwt.encode({"aud": AUD, "exp": int(time.time()) + 60}, None, algorithm="none")
    status, challenge = await _send_with(rest, unsigned)
    assert status == 401
    assert 'error="invalid_token"' in challenge


async def test_garbage_bearer_value_is_refused(rest: Rest) -> None:
    assert (await _send_with(rest, "not-a-jwt"))[0] == 401


async def test_health_needs_no_token(rest: Rest) -> None:
    assert (await rest.call("HEAD", "/api/health", auto_token=False)).status_code == 200
    assert (await rest.call("HEAD", "/api/v1/health", auto_token=False)).status_code == 200


async def test_negotiate_requires_a_client_token_for_that_hub(clients: Clients) -> None:
    assert (await clients.negotiate("chat", client_token("chat"))).status == 200
    assert (await clients.negotiate("chat", None)).status == 401
    assert (await clients.negotiate("chat", client_token("other"))).status == 401
    assert (await clients.negotiate("chat", client_token("chat", lifetime=-5))).status == 401
    rest_token = sign("http://127.0.0.1/client/negotiate")
    assert (await clients.negotiate("chat", rest_token)).status == 401


async def test_websocket_accepts_access_token_query_and_refuses_bad_tokens(clients: Clients) -> None:
    base = f"{clients.server.base_url}/client/?hub=chat"
    ws = await clients.session.ws_connect(f"{base}&access_token={client_token('chat', 'q')}")
    await ws.send_str('{"protocol":"json","version":1}\x1e')
    assert (await ws.receive(timeout=10)).data == "{}\x1e"
    await ws.close()
    for url in (
        base,
        f"{base}&access_token={client_token('chat', key='other-key-1234567890abcdefghijklmnopqrstuvwxyz')}",
    ):
        async with clients.session.get(url, headers={"Upgrade": "websocket", "Connection": "Upgrade"}) as r:
            assert r.status == 401


async def test_connect_with_unknown_or_reused_negotiate_id_is_404(clients: Clients) -> None:
    token = client_token("chat")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{clients.server.base_url}/client/?hub=chat&id=never-negotiated"
    async with clients.session.get(
        url,
        headers={
            **headers,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    ) as r:
        assert r.status == 404


async def test_negotiate_without_or_with_an_invalid_hub_is_400_with_an_error(clients: Clients) -> None:
    for query in ("", "?hub=", "?hub=9bad"):
        async with clients.session.post(f"{clients.server.base_url}/client/negotiate{query}") as response:
            assert response.status == 400
            assert "error" in await response.json()
