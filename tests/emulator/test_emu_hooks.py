"""Test hooks: fault injection, inspection and reset; absent unless enabled."""

from __future__ import annotations

import time

import httpx
import pytest
from emu_support import ACCESS_KEY, Clients, Rest

from bridge.emulator import EmulatorServer

pytestmark = pytest.mark.integration

BODY = {"target": "t", "arguments": []}


async def test_hooks_are_404_unless_enabled() -> None:
    async with EmulatorServer(access_key=ACCESS_KEY) as server, httpx.AsyncClient() as http:
        for method, path in [
            ("GET", "/_emulator/state"),
            ("POST", "/_emulator/faults"),
            ("POST", "/_emulator/reset"),
        ]:
            assert (await http.request(method, server.base_url + path)).status_code == 404


async def test_counted_fault_answers_the_next_n_rest_requests_then_stops(rest: Rest) -> None:
    hook = await rest.http.post(
        rest.server.base_url + "/_emulator/faults", json={"count": 2, "status": 503, "retry_after": 3}
    )
    assert hook.status_code == 200
    negotiate = await rest.http.post(rest.server.base_url + "/client/negotiate?hub=chat")
    assert negotiate.status_code == 401  # negotiate is not a REST request: no fault consumed
    for _ in range(2):
        faulted = await rest.send("/api/hubs/chat/:send", "t")
        assert (faulted.status_code, faulted.headers["Retry-After"]) == (503, "3")
    assert (await rest.send("/api/hubs/chat/:send", "t")).status_code == 202
    counts = (await rest.http.get(rest.server.base_url + "/_emulator/state")).json()["requests"]
    assert counts == {"202": 1, "503": 2}


async def test_a_fault_with_a_path_filter_spares_other_requests(rest: Rest) -> None:
    hook = await rest.http.post(
        rest.server.base_url + "/_emulator/faults",
        json={"count": 1, "status": 400, "error_code": "Error.Test", "path_contains": "/users/"},
    )
    assert hook.status_code == 200
    assert (await rest.call("HEAD", "/api/health")).status_code == 200
    assert (await rest.send("/api/hubs/chat/:send", "t")).status_code == 202
    refused = await rest.send("/api/hubs/chat/users/ann/:send", "t")
    assert (refused.status_code, refused.headers["x-ms-error-code"]) == (400, "Error.Test")
    assert (await rest.send("/api/hubs/chat/users/ann/:send", "t")).status_code == 202


async def test_fault_hits_even_unauthenticated_requests_and_can_be_cleared(rest: Rest) -> None:
    rest.server.faults.inject(5, 429)
    assert (await rest.send("/api/hubs/chat/:send", "t", auto_token=False)).status_code == 429
    assert (await rest.http.delete(rest.server.base_url + "/_emulator/faults")).status_code == 200
    assert (await rest.send("/api/hubs/chat/:send", "t")).status_code == 202


async def test_drop_closes_the_connection_without_a_response(rest: Rest, clients: Clients) -> None:
    client = await clients.connect("chat", "u")
    rest.server.faults.inject(1, drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        await rest.send("/api/hubs/chat/:send", "lost")
    assert (await rest.send("/api/hubs/chat/:send", "kept")).status_code == 202
    assert (await client.next())["target"] == "kept"  # the dropped send was never delivered
    assert rest.server.state()["requests"]["dropped"] == 1


async def test_standing_latency_delays_every_rest_request_until_cleared(rest: Rest) -> None:
    hook = await rest.http.post(
        rest.server.base_url + "/_emulator/faults", json={"count": None, "latency_ms": 300}
    )
    assert hook.json()["standing_latency_ms"] == 300
    for _ in range(2):
        started = time.monotonic()
        assert (await rest.send("/api/hubs/chat/:send", "t")).status_code == 202
        assert time.monotonic() - started >= 0.3  # a lower bound: latency was added, not how fast we are
    rest.server.faults.clear()
    assert rest.server.faults.describe()["standing_latency_ms"] == 0


async def test_bad_fault_requests_are_400(rest: Rest) -> None:
    for body in ({"count": 1, "status": 99}, {"count": None, "status": 500}, {"count": -1}, [1]):
        response = await rest.http.post(rest.server.base_url + "/_emulator/faults", json=body)
        assert response.status_code == 400, body


async def test_state_shows_connections_groups_memberships_and_delivered_messages(
    rest: Rest, clients: Clients
) -> None:
    client = await clients.connect("chat", "ann")
    await rest.call("PUT", f"/api/hubs/chat/groups/g1/connections/{client.connection_id}")
    await rest.call("PUT", "/api/hubs/chat/users/ann/groups/g2", params={"ttl": 60})
    await rest.send("/api/hubs/chat/groups/g2/:send", "hello", 1)

    state = (await rest.http.get(rest.server.base_url + "/_emulator/state")).json()
    assert state["connections"][0]["id"] == client.connection_id
    assert state["connections"][0]["userId"] == "ann"
    assert state["connections"][0]["groups"] == ["g1", "g2"]
    assert state["groups"] == {"chat": {"g1": [client.connection_id], "g2": [client.connection_id]}}
    expires = state["userGroups"]["chat"]["ann"]["g2"]
    assert time.time() + 50 < expires <= time.time() + 60
    [message] = state["messages"]
    assert message["connectionId"] == client.connection_id
    assert (message["hub"], message["target"], message["arguments"]) == ("chat", "hello", [1])

    assert (await rest.http.post(rest.server.base_url + "/_emulator/reset")).status_code == 204
    after = rest.server.state()
    assert after["messages"] == []
    assert after["requests"] == {}
    assert len(after["connections"]) == 1  # reset clears logs, not connections
