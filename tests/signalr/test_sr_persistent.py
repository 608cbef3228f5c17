"""The persistent transport against the emulator's /server endpoint: every action, barriers, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from aiohttp import web
from sr_helpers import FAST_RETRY

from bridge.emulator import EmulatorServer
from bridge.signalr import CountingObserver, Endpoint, Outcome, SignalRClient
from bridge.signalr import actions as a
from bridge.signalr.persistent import protocol
from bridge.signalr.persistent.settings import PersistentSettings

pytestmark = pytest.mark.integration

FAST = PersistentSettings(connections=4, ack_timeout=2.0, queue_timeout=3.0, reconnect_base=0.05)


def persistent(emulator: EmulatorServer, **kw: Any) -> Endpoint:
    return Endpoint.parse(emulator.connection_string, transport="persistent", **kw)


@pytest.fixture
async def pclient(emulator: EmulatorServer, observer: CountingObserver) -> AsyncIterator[SignalRClient]:
    async with SignalRClient(
        persistent(emulator), hub="chat", retry=FAST_RETRY, observer=observer, persistent=FAST
    ) as c:
        yield c


async def until_all(listener: Any, expected: set[str]) -> list[str]:
    """Targets the listener gets until it has seen every one of ``expected`` (duplicates kept)."""
    got: list[str] = []
    while not expected <= set(got):
        got.append((await listener.next())["target"])
    return got


def received(emulator: EmulatorServer) -> dict[str, int]:
    """Data messages each server connection read (by cid), barriers and acks left out."""
    counts = {}
    for server in emulator.state()["serverConnections"]:
        counts[server["cid"]] = sum(
            n for kind, n in server["received"].items() if kind in {"8", "10", "13", "7"}
        )
    return counts


async def test_every_send_and_group_action_reaches_or_stops_reaching_a_client(
    pclient: SignalRClient, listen: Callable[..., Any], emulator: EmulatorServer
) -> None:
    ann = await listen(user_id="ann")
    bob = await listen(user_id="bob")

    async def ok(action: Any) -> None:
        result = await pclient.deliver(action)
        assert result.ok, result.detail

    await ok(a.SendToAll(target="all", arguments=(1,), excluded=(bob.connection_id,)))
    await ok(a.SendToUser(target="user", user_id="ann"))
    await ok(a.SendToConnection(target="conn", connection_id=ann.connection_id))
    await ok(a.AddUserToGroup(user_id="ann", group="u", ttl=60))
    await ok(a.AddConnectionToGroup(connection_id=bob.connection_id, group="c"))
    await ok(a.SendToGroup(target="group-u", group="u"))
    await ok(a.SendToGroup(target="group-c", group="c", excluded=(ann.connection_id,)))
    assert emulator.state()["userGroups"]["chat"]["ann"]["u"] == pytest.approx(time.time() + 60, abs=5)
    await ok(a.RemoveUserFromGroup(user_id="ann", group="u"))
    await ok(a.RemoveConnectionFromGroup(connection_id=bob.connection_id, group="c"))
    await ok(a.SendToGroup(target="group-u-after", group="u"))
    await ok(a.SendToGroup(target="group-c-after", group="c"))
    await ok(a.AddUserToGroup(user_id="ann", group="x"))
    await ok(a.AddConnectionToGroup(connection_id=bob.connection_id, group="y"))
    await ok(a.RemoveUserFromAllGroups(user_id="ann"))
    await ok(a.RemoveConnectionFromAllGroups(connection_id=bob.connection_id))
    await ok(a.SendToGroup(target="x-after", group="x"))
    await ok(a.SendToGroup(target="y-after", group="y"))
    await ok(a.SendToUser(target="marker", user_id="ann"))
    await ok(a.SendToUser(target="marker", user_id="bob"))
    await ok(a.CloseConnection(connection_id=bob.connection_id, reason="bye"))

    ann_got = [(await ann.next())["target"] for _ in range(5)]
    assert ann_got == ["all", "user", "conn", "group-u", "marker"]
    bob_got = [(await bob.next())["target"] for _ in range(2)]
    assert bob_got == ["group-c", "marker"]
    for _ in range(100):
        if bob.closes:
            break
        await asyncio.sleep(0.02)
    assert bob.closes == [{"type": 7, "error": "bye", "allowReconnect": True}]


async def test_removals_of_what_is_not_there_are_benign_adds_to_a_vanished_connection_fail(
    pclient: SignalRClient,
) -> None:
    removed = await pclient.deliver(a.RemoveConnectionFromGroup(connection_id="gone", group="g"))
    assert (removed.outcome, removed.reason) == (Outcome.BENIGN, "already-so")
    added = await pclient.deliver(a.AddConnectionToGroup(connection_id="gone", group="g"))
    assert (added.outcome, added.reason) == (Outcome.FAILED_PERMANENT, "not-found")
    assert added.error_code == "Ack.NotFound"


async def test_a_send_is_delivered_only_when_a_later_ack_comes_back(
    pclient: SignalRClient, emulator: EmulatorServer
) -> None:
    await pclient.deliver(a.SendToAll(target="warm"))
    emulator.server_faults.delay_acks(400)
    started = time.monotonic()
    result = await pclient.deliver(a.SendToAll(target="t"))
    assert result.ok
    assert time.monotonic() - started >= 0.4


async def test_one_key_always_rides_one_connection_and_keys_spread_over_all_of_them(
    pclient: SignalRClient, emulator: EmulatorServer, observer: CountingObserver
) -> None:
    await asyncio.gather(
        *(pclient.deliver(a.SendToUser(target="t", user_id="u"), key="k1") for _ in range(1))
    )
    for _ in range(20):
        assert (await pclient.deliver(a.SendToUser(target="t", user_id="u"), key="k1")).ok
    by_connection = received(emulator)
    assert sorted(by_connection.values()) == [0, 0, 0, 21]
    await asyncio.gather(
        *(pclient.deliver(a.SendToUser(target="t", user_id="u"), key=f"key-{i}") for i in range(64))
    )
    assert all(n > 0 for n in received(emulator).values())
    [(name, status)] = pclient.endpoint_status().items()
    assert observer.connections_up[name] == status["connections_up"] == 4
    assert (status["transport"], status["hubs"], status["unconfirmed"]) == ("persistent", ["chat"], 0)


async def test_a_dropped_connection_retries_what_was_unconfirmed_and_loses_nothing(
    pclient: SignalRClient, emulator: EmulatorServer, listen: Callable[..., Any], observer: CountingObserver
) -> None:
    ann = await listen(user_id="ann")
    await pclient.deliver(a.SendToUser(target="warm", user_id="ann"))
    assert (await ann.next())["target"] == "warm"
    # The connection reads two more messages and is cut before any barrier is answered.
    emulator.server_faults.drop_after(2)
    results = await asyncio.gather(
        *(pclient.deliver(a.SendToUser(target=f"m{i}", user_id="ann"), key="one") for i in range(5))
    )
    assert all(r.ok for r in results)
    got = await until_all(ann, {f"m{i}" for i in range(5)})
    assert len(got) > 5, "the two read before the cut came again"
    assert sum(observer.retries.values()) >= 1
    assert sum(observer.reconnects.values()) >= 1


async def test_withheld_acks_time_out_and_the_messages_go_again_on_a_fresh_connection(
    pclient: SignalRClient, emulator: EmulatorServer, listen: Callable[..., Any]
) -> None:
    ann = await listen(user_id="ann")
    emulator.server_faults.withhold_acks(1)
    started = time.monotonic()
    result = await pclient.deliver(a.SendToUser(target="once", user_id="ann"))
    assert result.ok
    assert result.attempts == 2
    assert time.monotonic() - started >= FAST.ack_timeout
    assert [(await ann.next())["target"] for _ in range(2)] == ["once", "once"]  # at least once: twice


async def test_a_refused_handshake_takes_the_endpoint_down_with_the_reason(
    emulator: EmulatorServer, observer: CountingObserver
) -> None:
    emulator.server_faults.refuse_handshakes("Hub is in Default mode: no app server connected.")
    async with SignalRClient(
        persistent(emulator, name="ep"), hub="chat", retry=FAST_RETRY, observer=observer, persistent=FAST
    ) as client:
        assert await client.check_health() == {"ep": False}
        [(endpoint, online, reason)] = observer.health_changes
        assert (endpoint, online) == ("ep", False)
        assert "Default mode" in reason
        result = await client.deliver(a.SendToAll(target="t"), within=1.0)
        assert result.outcome is Outcome.FAILED_TRANSIENT
        assert result.reason == "handshake-refused"
        emulator.server_faults.clear()
        for _ in range(200):
            if (await client.check_health())["ep"]:
                break
            await asyncio.sleep(0.05)
        assert (await client.deliver(a.SendToAll(target="t"))).ok
        assert [(e, up) for e, up, _ in observer.health_changes] == [("ep", False), ("ep", True)]


async def test_a_wrong_key_is_an_unauthorized_endpoint(
    emulator: EmulatorServer, observer: CountingObserver
) -> None:
    wrong = emulator.connection_string.replace(emulator.access_key, "wrong-key-0123456789abcdefghijklmnopqrs")
    endpoint = Endpoint.parse(wrong, transport="persistent", name="ep")
    async with SignalRClient(endpoint, hub="chat", observer=observer, persistent=FAST) as client:
        assert await client.check_health() == {"ep": False}
        assert "HTTP 401" in observer.health_changes[0][2]


async def test_service_error_and_offline_move_the_traffic_to_fresh_connections(
    pclient: SignalRClient, emulator: EmulatorServer, listen: Callable[..., Any]
) -> None:
    ann = await listen(user_id="ann")
    assert (await pclient.deliver(a.SendToUser(target="before", user_id="ann"))).ok
    first = {s["id"] for s in emulator.state()["serverConnections"]}
    emulator.servers.service_error("Message count reaches limit.")
    emulator.servers.offline()
    for i in range(10):
        assert (await pclient.deliver(a.SendToUser(target=f"after{i}", user_id="ann"), key=i)).ok
    targets = await until_all(ann, {"before"} | {f"after{i}" for i in range(10)})
    assert targets[0] == "before"
    now = {s["id"] for s in emulator.state()["serverConnections"]}
    assert now
    assert not now & first


async def test_closing_confirms_what_was_written_and_closes_cleanly(emulator: EmulatorServer) -> None:
    client = SignalRClient(persistent(emulator), hub="chat", persistent=FAST)
    await client.start()
    emulator.server_faults.delay_acks(200)
    pending = asyncio.ensure_future(client.deliver(a.SendToAll(target="t")))
    await asyncio.sleep(0)
    await client.aclose()
    assert (await pending).ok
    for _ in range(100):
        if not emulator.state()["serverConnections"]:
            break
        await asyncio.sleep(0.02)
    assert emulator.state()["serverConnections"] == []


async def test_messagepack_payloads_only_when_configured(emulator: EmulatorServer) -> None:
    settings = PersistentSettings(connections=1, messagepack=True)
    async with SignalRClient(persistent(emulator), hub="chat", persistent=settings) as client:
        prepared = client._states[0].transport.prepare(a.SendToAll(target="m", arguments=(1,)))
        assert prepared.data == protocol.broadcast(protocol.payloads("m", [1], messagepack=True))


async def test_each_dial_asks_for_a_token_and_sends_the_server_id(unused_tcp_port: int) -> None:
    """A stand-in service that records the upgrade headers, answers the handshake, then hangs up."""
    seen: list[dict[str, str]] = []

    async def server(request: web.Request) -> web.WebSocketResponse:
        seen.append({"auth": request.headers["Authorization"], "id": request.headers["X-ASRS-Server-Id"],
                     "hub": request.query["hub"], "cid": request.query["cid"]})  # fmt: skip
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws.send_bytes(protocol.pack([2, "", {}, "sid"]))
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/server/", server)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        key = "stand-in-key-0123456789abcdefghijklmnopqrs"
        cs = f"Endpoint=http://127.0.0.1;Port={unused_tcp_port};AccessKey={key};Version=1.0;"
        settings = PersistentSettings(connections=1, reconnect_base=0.01, server_id="bridge-1")
        async with SignalRClient(Endpoint.parse(cs, transport="persistent"), hub="Chat", persistent=settings):
            for _ in range(200):
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.02)
    finally:
        await runner.cleanup()
    assert len(seen) >= 2
    assert seen[0]["cid"] != seen[1]["cid"]
    assert {s["hub"] for s in seen} == {"chat"}
    claims = jwt.decode(
        seen[1]["auth"].removeprefix("Bearer "),
        key,
        algorithms=["HS256"],
        audience="http://127.0.0.1/server/?hub=chat",
    )
    assert claims["nameid"] == seen[1]["id"] == "bridge-1"


async def test_a_secondary_stands_in_for_a_primary_whose_handshake_is_refused(
    emulator: EmulatorServer, observer: CountingObserver, listen: Callable[..., Any]
) -> None:
    async with EmulatorServer(host="127.0.0.1", port=0, test_hooks=True) as standby:
        emulator.server_faults.refuse_handshakes("maintenance")
        endpoints = [
            persistent(emulator, name="primary"),
            persistent(standby, role="secondary", name="standby"),
        ]
        async with SignalRClient(
            endpoints, hub="chat", retry=FAST_RETRY, observer=observer, persistent=FAST
        ) as c:
            assert await c.check_health() == {"primary": False, "standby": True}
            result = await c.deliver(a.SendToAll(target="t"))
            assert result.ok
            assert [r.endpoint for r in result.endpoints] == ["standby"]
        assert standby.state()["serverConnections"] == []  # closed on aclose


async def test_entra_endpoints_send_the_entra_token_on_every_dial(unused_tcp_port: int) -> None:
    calls: list[str] = []

    class Entra:
        async def authorization(self, audience: str) -> str:
            calls.append(audience)
            return f"Bearer entra-{len(calls)}"

        def invalidate(self, audience: str) -> None:
            return None

        async def aclose(self) -> None:
            return None

    seen: list[str] = []

    async def server(request: web.Request) -> web.WebSocketResponse:
        seen.append(request.headers["Authorization"])
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws.send_bytes(protocol.pack([2, "", {}, "sid"]))
        await ws.close()  # hang up: the next dial must ask for a token again
        return ws

    app = web.Application()
    app.router.add_get("/server/", server)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        cs = f"Endpoint=http://127.0.0.1;Port={unused_tcp_port};AuthType=azure;Version=1.0;"
        endpoint = Endpoint.parse(cs, transport="persistent", name="entra")
        settings = PersistentSettings(connections=1, reconnect_base=0.01)
        async with SignalRClient(
            endpoint, hub="chat", persistent=settings, token_providers={"entra": Entra()}
        ):
            for _ in range(200):
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.02)
    finally:
        await runner.cleanup()
    assert seen[:2] == ["Bearer entra-1", "Bearer entra-2"]
    assert calls[0] == "http://127.0.0.1/server/?hub=chat"


async def test_hubs_named_by_records_keep_at_most_max_hubs_pools_open(emulator: EmulatorServer) -> None:
    settings = PersistentSettings(connections=1, max_hubs=2)
    async with SignalRClient(persistent(emulator), hub="chat", persistent=settings) as client:
        for hub in ("a", "b", "c"):
            assert (await client.deliver(a.SendToAll(target="t", hub=hub))).ok
        [status] = client.endpoint_status().values()
        assert status["hubs"] == ["b", "c"]
        for _ in range(100):
            if {s["hub"] for s in emulator.state()["serverConnections"]} == {"b", "c"}:
                break
            await asyncio.sleep(0.02)
        assert {s["hub"] for s in emulator.state()["serverConnections"]} == {"b", "c"}
