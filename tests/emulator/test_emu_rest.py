"""REST sends and group/user/connection management reach the right raw client sockets."""

from __future__ import annotations

import asyncio
import json

import pytest
from emu_support import RS, Clients, Rest, eventually, marker

pytestmark = pytest.mark.integration


async def test_broadcast_reaches_every_connection_of_the_hub_except_excluded(
    rest: Rest, clients: Clients
) -> None:
    a, b, c = [await clients.connect("chat", f"u{i}") for i in range(3)]
    other_hub = await clients.connect("news", "u0")
    response = await rest.send(
        "/api/hubs/chat/:send", "hello", 1, {"x": [True, None]}, params=[("excluded", c.connection_id)]
    )
    assert response.status_code == 202
    for client in (a, b):
        message = await client.next()
        assert message == {"type": 1, "target": "hello", "arguments": [1, {"x": [True, None]}]}
    await marker(rest, c)
    await c.assert_silent()
    await marker(rest, other_hub, "news")
    await other_hub.assert_silent()


async def test_send_to_user_reaches_all_and_only_that_users_connections(rest: Rest, clients: Clients) -> None:
    first, second = await clients.connect("chat", "alice"), await clients.connect("chat", "alice")
    bob = await clients.connect("chat", "bob")
    assert (await rest.send("/api/hubs/chat/users/alice/:send", "note", "hi")).status_code == 202
    assert (await first.next())["arguments"] == ["hi"]
    assert (await second.next())["arguments"] == ["hi"]
    await marker(rest, bob)
    await bob.assert_silent()


async def test_group_membership_by_connection_controls_group_sends(rest: Rest, clients: Clients) -> None:
    member, outsider = await clients.connect("chat", "a"), await clients.connect("chat", "b")
    put = await rest.call("PUT", f"/api/hubs/chat/groups/room%2F1/connections/{member.connection_id}")
    assert put.status_code == 200
    assert (await rest.call("HEAD", "/api/hubs/chat/groups/room%2F1")).status_code == 200
    assert (await rest.send("/api/hubs/chat/groups/room%2F1/:send", "in-room", 1)).status_code == 202
    assert (await member.next())["target"] == "in-room"
    await marker(rest, outsider)
    await outsider.assert_silent()

    removed = await rest.call("DELETE", f"/api/hubs/chat/groups/room%2F1/connections/{member.connection_id}")
    assert removed.status_code == 200
    await rest.send("/api/hubs/chat/groups/room%2F1/:send", "after-leave")
    await marker(rest, member)
    await member.assert_silent()
    missing = await rest.call("HEAD", "/api/hubs/chat/groups/room%2F1")
    assert missing.status_code == 404
    assert missing.headers["x-ms-error-code"] == "Warning.Group.NotExisted"


async def test_group_send_honours_excluded(rest: Rest, clients: Clients) -> None:
    a, b = await clients.connect("chat", "a"), await clients.connect("chat", "b")
    for client in (a, b):
        await rest.call("PUT", f"/api/hubs/chat/groups/g/connections/{client.connection_id}")
    await rest.send("/api/hubs/chat/groups/g/:send", "m", params=[("excluded", b.connection_id)])
    assert (await a.next())["target"] == "m"
    await marker(rest, b)
    await b.assert_silent()


async def test_user_group_membership_applies_to_later_connections_until_removed(
    rest: Rest, clients: Clients
) -> None:
    assert (await rest.call("PUT", "/api/hubs/chat/users/carol/groups/vip")).status_code == 200
    in_group = await rest.call("GET", "/api/hubs/chat/users/carol/groups/vip")
    assert in_group.status_code == 200
    carol = await clients.connect("chat", "carol")  # connects after being added
    await rest.send("/api/hubs/chat/groups/vip/:send", "vip-only")
    assert (await carol.next())["target"] == "vip-only"

    assert (await rest.call("DELETE", "/api/hubs/chat/users/carol/groups/vip")).status_code == 204
    not_in = await rest.call("HEAD", "/api/hubs/chat/users/carol/groups/vip")
    assert not_in.status_code == 404
    assert not_in.headers["x-ms-error-code"] == "Info.User.NotInGroup"
    await rest.send("/api/hubs/chat/groups/vip/:send", "after")
    await marker(rest, carol)
    await carol.assert_silent()


async def test_ttl_zero_adds_only_current_connections(rest: Rest, clients: Clients) -> None:
    now = await clients.connect("chat", "dave")
    assert (
        await rest.call("PUT", "/api/hubs/chat/users/dave/groups/g", params={"ttl": 0})
    ).status_code == 200
    later = await clients.connect("chat", "dave")
    await rest.send("/api/hubs/chat/groups/g/:send", "m")
    assert (await now.next())["target"] == "m"
    await marker(rest, later)
    await later.assert_silent()


async def test_expired_ttl_membership_no_longer_receives(rest: Rest, clients: Clients) -> None:
    eve = await clients.connect("chat", "eve")
    assert (await rest.call("PUT", "/api/hubs/chat/users/eve/groups/g", params={"ttl": 1})).status_code == 200
    assert (await rest.call("HEAD", "/api/hubs/chat/users/eve/groups/g")).status_code == 200
    expired = await eventually(
        lambda: not rest.server.state()["userGroups"].get("chat", {}).get("eve"), wait=5
    )
    assert expired
    await rest.send("/api/hubs/chat/groups/g/:send", "late")
    await marker(rest, eve)
    await eve.assert_silent()


async def test_leave_all_groups_for_connection_and_user(rest: Rest, clients: Clients) -> None:
    frank = await clients.connect("chat", "frank")
    await rest.call("PUT", f"/api/hubs/chat/groups/g1/connections/{frank.connection_id}")
    await rest.call("PUT", "/api/hubs/chat/users/frank/groups/g2")
    assert (
        await rest.call("DELETE", f"/api/hubs/chat/connections/{frank.connection_id}/groups")
    ).status_code == 200
    assert (await rest.call("DELETE", "/api/hubs/chat/users/frank/groups")).status_code == 204
    for group in ("g1", "g2"):
        await rest.send(f"/api/hubs/chat/groups/{group}/:send", "m")
    await marker(rest, frank)
    await frank.assert_silent()


async def test_send_to_connection_and_existence_checks(rest: Rest, clients: Clients) -> None:
    gina = await clients.connect("chat", "gina")
    assert (
        await rest.send(f"/api/hubs/chat/connections/{gina.connection_id}/:send", "direct")
    ).status_code == 202
    assert (await gina.next())["target"] == "direct"
    assert (await rest.call("HEAD", f"/api/hubs/chat/connections/{gina.connection_id}")).status_code == 200
    assert (await rest.call("HEAD", "/api/hubs/chat/users/gina")).status_code == 200
    nobody = await rest.call("HEAD", "/api/hubs/chat/users/nobody")
    assert (nobody.status_code, nobody.headers["x-ms-error-code"]) == (404, "Warning.User.NotExisted")
    gone = await rest.call("HEAD", "/api/hubs/chat/connections/unknown")
    assert (gone.status_code, gone.headers["x-ms-error-code"]) == (404, "Warning.Connection.NotExisted")
    wrong_hub = await rest.call("HEAD", f"/api/hubs/other/connections/{gina.connection_id}")
    assert wrong_hub.status_code == 404
    add_unknown = await rest.call("PUT", "/api/hubs/chat/groups/g/connections/unknown")
    assert (add_unknown.status_code, add_unknown.headers["x-ms-error-code"]) == (
        404,
        "Error.Connection.NotExisted",
    )


async def test_close_connection_sends_close_with_reason_and_forgets_it(rest: Rest, clients: Clients) -> None:
    henry = await clients.connect("chat", "henry")
    closed = await rest.call(
        "DELETE", f"/api/hubs/chat/connections/{henry.connection_id}", params={"reason": "bye"}
    )
    assert closed.status_code == 200
    assert await henry.next() == {"type": 7, "error": "bye", "allowReconnect": True}
    assert (await henry.next()).get("closed")
    assert (await rest.call("HEAD", f"/api/hubs/chat/connections/{henry.connection_id}")).status_code == 404
    again = await rest.call("DELETE", f"/api/hubs/chat/connections/{henry.connection_id}")
    assert (again.status_code, again.headers["x-ms-error-code"]) == (404, "Warning.Connection.NotExisted")


@pytest.mark.parametrize(
    ("path", "closed_users", "kept_users"),
    [
        ("/api/hubs/chat/:closeConnections", ["a", "b"], ["c"]),
        ("/api/hubs/chat/groups/g/:closeConnections", ["a"], ["b", "c"]),
        ("/api/hubs/chat/users/a/:closeConnections", ["a"], ["b", "c"]),
    ],
)
async def test_close_connections_by_hub_group_and_user(
    rest: Rest, clients: Clients, path: str, closed_users: list[str], kept_users: list[str]
) -> None:
    by_user = {u: await clients.connect("chat", u) for u in ("a", "b", "c")}
    await rest.call("PUT", f"/api/hubs/chat/groups/g/connections/{by_user['a'].connection_id}")
    response = await rest.call("POST", path, params=[("excluded", by_user["c"].connection_id)])
    assert response.status_code == 204
    for user in closed_users:
        assert (await by_user[user].next())["type"] == 7
    for user in kept_users:
        await marker(rest, by_user[user])
        await by_user[user].assert_silent()


async def test_application_prefix_and_hub_case_map_to_one_client_hub(rest: Rest, clients: Clients) -> None:
    client = await clients.connect("myapp_chat", "ivy")
    response = await rest.send("/api/hubs/Chat/:send", "prefixed", params={"application": "MyApp"})
    assert response.status_code == 202
    assert (await client.next())["target"] == "prefixed"
    plain = await rest.send("/api/hubs/CHAT/users/ivy/:send", "unprefixed")
    assert plain.status_code == 202
    await marker(rest, client, "myapp_chat")
    await client.assert_silent()


async def test_legacy_v1_paths_send_and_manage_groups(rest: Rest, clients: Clients) -> None:
    jo = await clients.connect("chat", "jo")
    assert (await rest.send("/api/v1/hubs/chat", "v1-all")).status_code == 202
    assert (await jo.next())["target"] == "v1-all"
    assert (await rest.call("PUT", "/api/v1/hubs/chat/groups/g/users/jo")).status_code == 202
    assert (await rest.call("GET", "/api/v1/hubs/chat/groups/g/users/jo")).status_code == 200
    body = {"Target": "v1-group", "Arguments": [1]}  # v1 schema spelling
    assert (await rest.call("POST", "/api/v1/hubs/chat/groups/g", json_body=body)).status_code == 202
    assert (await jo.next()) == {"type": 1, "target": "v1-group", "arguments": [1]}
    assert (await rest.call("DELETE", f"/api/v1/hubs/chat/connections/{jo.connection_id}")).status_code == 202


async def test_list_group_connections_pages_through_members(rest: Rest, clients: Clients) -> None:
    members = [await clients.connect("chat", f"m{i}") for i in range(5)]
    for member in members:
        await rest.call("PUT", f"/api/hubs/chat/groups/g/connections/{member.connection_id}")
    seen: list[str] = []
    response = await rest.call("GET", "/api/hubs/chat/groups/g/connections", params={"maxpagesize": 2})
    while True:
        assert response.status_code == 200
        body = response.json()
        seen += [item["connectionId"] for item in body["value"]]
        assert all(item["userId"].startswith("m") for item in body["value"])
        if "nextLink" not in body:
            break
        response = await rest.call("GET", body["nextLink"])
    assert sorted(seen) == sorted(m.connection_id for m in members)
    limited = await rest.call("GET", "/api/hubs/chat/groups/g/connections", params={"top": 3})
    assert len(limited.json()["value"]) == 3


async def test_generate_token_gives_a_client_token_the_emulator_accepts(rest: Rest, clients: Clients) -> None:
    response = await rest.call("POST", "/api/hubs/chat/:generateToken", params={"userId": "kim"})
    assert response.status_code == 200
    token = response.json()["token"]
    negotiated = await clients.negotiate("chat", token)
    assert negotiated.status == 200
    assert (await clients.negotiate("other", token)).status == 401


async def test_invoke_returns_the_clients_result_or_500(rest: Rest, clients: Clients) -> None:
    client = await clients.connect("chat", "answering")
    path = f"/api/hubs/chat/connections/{client.connection_id}/:invoke"

    async def answer(reply: dict[str, object]) -> None:
        invocation = await client.next()
        assert (invocation["target"], invocation["arguments"]) == ("ask", [1])
        await client.ws.send_str(
            json.dumps({"type": 3, "invocationId": invocation["invocationId"], **reply}) + RS
        )

    for reply, status, body in [
        ({"result": {"v": 2}}, 200, {"result": {"v": 2}}),
        ({}, 200, {"result": None}),
        ({"error": "nope"}, 500, None),
    ]:
        answering = asyncio.create_task(answer(reply))
        response = await rest.send(path, "ask", 1)
        await answering
        assert response.status_code == status
        if body is not None:
            assert response.json() == body
    unknown = await rest.send("/api/hubs/chat/connections/nobody/:invoke", "ask", 1)
    assert unknown.status_code == 404


async def test_invoke_fails_with_500_when_the_client_leaves(rest: Rest, clients: Clients) -> None:
    client = await clients.connect("chat", "leaving")

    async def leave() -> None:
        await client.next()
        await client.ws.close()

    leaving = asyncio.create_task(leave())
    response = await rest.send(f"/api/hubs/chat/connections/{client.connection_id}/:invoke", "ask")
    await leaving
    assert response.status_code == 500
