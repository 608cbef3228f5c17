"""Every send kind and group action, from a produced Kafka record to the official JS client,
over REST and over persistent server connections, for a JSON and a MessagePack client."""

from __future__ import annotations

import pytest
from e2e_support import HUB, JsClient, create_topic, jsonb, produce, token_for

from bridge.emulator import EmulatorServer

pytestmark = pytest.mark.e2e

CONFIG = """
kafka:
  bootstrap_servers: ${{KAFKA_BOOTSTRAP_SERVERS}}
  group_id: {group}
  start_from: earliest
signalr:
  hub: {hub}
  transport: {transport}
  persistent: {{messagepack: {messagepack}}}
observability:
  host: 127.0.0.1
  port: __METRICS_PORT__
routes:
  - name: broadcast
    topics: [{topic}]
    filter: value.op == 'all'
    ordering: partition
    actions:
      - send: {{target: note, all: true, arguments: ["{{value.text}}"], excluded: "{{value.exclude}}"}}
  - name: to-user
    topics: [{topic}]
    filter: value.op == 'user'
    ordering: partition
    actions:
      - send: {{target: note, userId: "{{value.user}}", arguments: ["{{value.text}}"]}}
  - name: to-group
    topics: [{topic}]
    filter: value.op == 'group'
    ordering: partition
    actions:
      - send: {{target: note, groupName: "{{value.group}}", arguments: ["{{value.text}}"]}}
  - name: to-connection
    topics: [{topic}]
    filter: value.op == 'connection'
    ordering: partition
    actions:
      - send: {{target: note, connectionId: "{{value.conn}}", arguments: ["{{value.text}}"]}}
{membership}
  - name: close
    topics: [{topic}]
    filter: value.op == 'close'
    ordering: partition
    actions:
      - close: {{connectionId: "{{value.conn}}", reason: "{{value.reason}}"}}
"""


MEMBERSHIP = """
  - name: {action}-{who}
    topics: [{topic}]
    filter: value.op == 'member' && value.action == '{action}' && value.{who} != null
    ordering: partition
    actions:
      - group: {{action: {action}, {field}: "{{value.{who}}}"{group}}}
"""


def config(group: str, topic: str, transport: str, protocol: str) -> str:
    membership = "".join(
        MEMBERSHIP.format(
            action=action,
            who=who,
            field=field,
            topic=topic,
            group="" if action == "removeAll" else ', groupName: "{value.group}"',
        )
        for action in ("add", "remove", "removeAll")
        for who, field in (("user", "userId"), ("conn", "connectionId"))
    )
    messagepack = "true" if protocol == "messagepack" else "false"
    return CONFIG.format(
        group=group, hub=HUB, topic=topic, membership=membership, transport=transport, messagepack=messagepack
    )


@pytest.mark.parametrize("case", ["rest/json", "persistent/json", "persistent/messagepack"])
async def test_every_send_kind_and_group_action_reaches_the_js_client(
    bootstrap_servers: str, emulator: EmulatorServer, bridges, listener, unique, *, case: str
) -> None:
    transport, protocol = case.split("/")
    topic = unique.topic()
    await create_topic(bootstrap_servers, topic, 1)
    access = token_for(emulator.connection_string, HUB, "ann")
    js = await JsClient.connect(access, ["note"], protocol)
    a = js.connection_id

    def member(action: str, group: str, *, user: str | None = None, conn: str | None = None) -> dict:
        return {"op": "member", "action": action, "group": group, "user": user, "conn": conn}

    records = [
        {"op": "all", "text": "hello"},
        {"op": "user", "user": "ann", "text": "to ann"},
        member("add", "g1", user="ann"),
        {"op": "group", "group": "g1", "text": "g1 while in"},
        member("add", "g2", conn=a),
        {"op": "group", "group": "g2", "text": "g2 while in"},
        {"op": "connection", "conn": a, "text": "to the connection"},
        member("remove", "g1", user="ann"),
        {"op": "group", "group": "g1", "text": "g1 after leaving"},
        member("remove", "g2", conn=a),
        {"op": "group", "group": "g2", "text": "g2 after leaving"},
        {"op": "all", "text": "broadcast excluding ann", "exclude": [a]},
        member("add", "g3", user="ann"),
        member("add", "g4", conn=a),
        member("removeAll", "-", user="ann"),
        member("removeAll", "-", conn=a),
        {"op": "group", "group": "g3", "text": "g3 after removeAll"},
        {"op": "group", "group": "g4", "text": "g4 after removeAll"},
        {"op": "connection", "conn": a, "text": "marker"},
        {"op": "close", "conn": a, "reason": "bye"},
    ]
    await produce(bootstrap_servers, topic, [(b"k", jsonb(r)) for r in records])
    group = unique.group()
    bridge = bridges(config(group, topic, transport, protocol))
    await bridge.wait_ready()
    try:
        received = [await js.message(timeout=60) for _ in range(6)]
        # One partition, one lane: what the client did not get before the marker it never gets.
        assert received == [
            ("note", ["hello"]),
            ("note", ["to ann"]),
            ("note", ["g1 while in"]),
            ("note", ["g2 while in"]),
            ("note", ["to the connection"]),
            ("note", ["marker"]),
        ]
        closed = await js.event(timeout=30)
        assert closed["event"] == "closed"
        assert "bye" in (closed["error"] or "")
        watcher = await listener.wait_for(2)
        assert watcher == [("note", ["hello"]), ("note", ["broadcast excluding ann"])]
    finally:
        await js.close()
    metrics = await bridge.metrics()
    assert f'signalr_bridge_records_consumed_total{{topic="{topic}"}} 20.0' in metrics
    if transport == "persistent":
        assert "signalr_bridge_server_connections_up{" in metrics
        assert emulator.state()["serverConnections"], "the bridge used server connections"
        assert emulator.state()["requests"] == {}, "no REST request at all"
