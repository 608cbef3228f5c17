"""Routing behaviour a user relies on: which records produce which SignalR actions."""

from __future__ import annotations

import json

import pytest
from rt_helpers import record, router_for

from bridge.routing import RoutingError, RoutingReason
from bridge.signalr import actions as sa

pytestmark = pytest.mark.unit

SEND_TO_ROOM = """\
- name: rooms
  topics: [chat]
  actions:
    - send:
        target: newMessage
        groupName: room-{value.roomId}
        arguments: ["{value.sender}", "{value.text}"]
"""


def test_send_to_group_from_template() -> None:
    routed = router_for(SEND_TO_ROOM).route(record('{"roomId": 42, "sender": "ann", "text": "hi"}'))
    assert [r.action for r in routed] == [
        sa.SendToGroup(target="newMessage", arguments=("ann", "hi"), group="room-42")
    ]
    assert routed[0].route == "rooms"
    assert routed[0].ordering == "key"


def test_record_on_other_topic_gives_nothing() -> None:
    assert router_for(SEND_TO_ROOM).route(record('{"roomId": 1}', topic="orders")) == []


def test_topic_pattern_matches_whole_name_only() -> None:
    router = router_for("""\
        - name: t
          topic_pattern: telemetry\\..+
          actions: [{send: {target: r, all: true}}]
        """)
    assert len(router.route(record("{}", topic="telemetry.site-a"))) == 1
    assert router.route(record("{}", topic="old.telemetry.site-a")) == []
    assert router.route(record("{}", topic="telemetry.")) == []


def test_filter_selects_records() -> None:
    router = router_for("""\
        - name: only-messages
          topics: [chat]
          filter: value.type == 'message'
          actions: [{send: {target: m, all: true}}]
        """)
    assert len(router.route(record('{"type": "message"}'))) == 1
    assert router.route(record('{"type": "typing"}')) == []
    assert router.route(record('{"other": 1}')) == []


def test_filter_over_headers_key_and_metadata() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          filter: headers.kind == 'x' && key == 'k1' && partition == `2` && offset > `10` && timestamp != null
          actions: [{send: {target: m, all: true}}]
        """)
    good = record("{}", key="k1", headers={"kind": "x"}, partition=2, offset=11, timestamp_ms=5)
    assert len(router.route(good)) == 1
    assert router.route(record("{}", key="k1", headers={"kind": "x"}, partition=2, offset=11)) == []
    assert (
        router.route(record("{}", key="k2", headers={"kind": "x"}, partition=2, offset=11, timestamp_ms=5))
        == []
    )


def test_every_matching_route_contributes_in_file_order() -> None:
    router = router_for("""\
        - name: first
          topics: [chat]
          actions: [{send: {target: a, all: true}}]
        - name: second
          topic_pattern: ch.*
          ordering: none
          actions: [{send: {target: b, all: true}}]
        """)
    routed = router.route(record("{}"))
    assert [(r.route, r.action.target, r.ordering) for r in routed] == [  # type: ignore[union-attr]
        ("first", "a", "key"),
        ("second", "b", "none"),
    ]


def test_list_fans_out_to_users() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{send: {target: t, userId: "{value.users}"}}]
        """)
    routed = router.route(record('{"users": ["ann", "bob", 7]}'))
    assert [r.action for r in routed] == [
        sa.SendToUser(target="t", user_id="ann"),
        sa.SendToUser(target="t", user_id="bob"),
        sa.SendToUser(target="t", user_id="7"),
    ]


def test_empty_list_fans_out_to_nothing() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{send: {target: t, userId: "{value.users}"}}]
        """)
    assert router.route(record('{"users": []}')) == []


def test_group_action_fans_out_over_every_user_group_pair() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions:
            - group: {action: add, userId: "{value.users}", groupName: "team-{value.teams}", ttl: 60}
        """)
    routed = router.route(record('{"users": ["a", "b"], "teams": ["x", "y"]}'))
    assert [r.action for r in routed] == [
        sa.AddUserToGroup(user_id="a", group="team-x", ttl=60),
        sa.AddUserToGroup(user_id="a", group="team-y", ttl=60),
        sa.AddUserToGroup(user_id="b", group="team-x", ttl=60),
        sa.AddUserToGroup(user_id="b", group="team-y", ttl=60),
    ]


def test_fanout_beyond_max_fanout_is_an_error() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          max_fanout: 2
          actions: [{send: {target: t, groupName: "{value.g}"}}]
        """)
    assert len(router.route(record('{"g": ["a", "b"]}'))) == 2
    with pytest.raises(RoutingError) as caught:
        router.route(record('{"g": ["a", "b", "c"]}'))
    assert caught.value.reason == RoutingReason.FANOUT_LIMIT
    assert str(caught.value) == (
        'route "r": field "actions[0].send.groupName": fans out to 3 values, more than max_fanout 2'
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("{action: add, userId: u, groupName: g}", sa.AddUserToGroup(user_id="u", group="g")),
        ("{action: remove, userId: u, groupName: g}", sa.RemoveUserFromGroup(user_id="u", group="g")),
        ("{action: removeAll, userId: u}", sa.RemoveUserFromAllGroups(user_id="u")),
        (
            "{action: add, connectionId: c, groupName: g}",
            sa.AddConnectionToGroup(connection_id="c", group="g"),
        ),
        (
            "{action: remove, connectionId: c, groupName: g}",
            sa.RemoveConnectionFromGroup(connection_id="c", group="g"),
        ),
        ("{action: removeAll, connectionId: c}", sa.RemoveConnectionFromAllGroups(connection_id="c")),
    ],
)
def test_group_actions_map_to_the_action_model(spec: str, expected: sa.Action) -> None:
    router = router_for(f"""\
        - name: r
          topics: [chat]
          actions: [{{group: {spec}}}]
        """)
    assert [r.action for r in router.route(record("{}"))] == [expected]


def test_close_connection_with_reason() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{close: {connectionId: "{value.c}", reason: "banned: {value.why}"}}]
        """)
    assert [r.action for r in router.route(record('{"c": "c1", "why": "spam"}'))] == [
        sa.CloseConnection(connection_id="c1", reason="banned: spam")
    ]


def test_ttl_from_the_record() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{group: {action: add, userId: u, groupName: g, ttl: "{value.ttl}"}}]
        """)
    assert router.route(record('{"ttl": 30}'))[0].action == sa.AddUserToGroup(user_id="u", group="g", ttl=30)
    with pytest.raises(RoutingError) as caught:
        router.route(record('{"ttl": -5}'))
    assert caught.value.reason == RoutingReason.INVALID_FIELD
    assert "ttl must be a whole number of seconds" in str(caught.value)


def test_hub_from_action_overrides_route_hub_and_default() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          hub: "{headers.hub}"
          actions:
            - send: {target: a, all: true}
            - send: {target: b, all: true, hub: fixed}
        """)
    routed = router.route(record("{}", headers={"hub": "tenant1"}))
    assert [r.action.hub for r in routed] == ["tenant1", "fixed"]
    with pytest.raises(RoutingError) as caught:
        router.route(record("{}", headers={"hub": "1-bad hub"}))
    assert caught.value.reason == RoutingReason.INVALID_FIELD
    assert caught.value.field == "hub"


def test_action_without_hub_uses_default_hub_none() -> None:
    routed = router_for(SEND_TO_ROOM).route(record('{"roomId": 1, "sender": "a", "text": "b"}'))
    assert routed[0].action.hub is None


def test_arguments_keep_json_types_and_nest() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions:
            - send:
                target: t
                all: true
                arguments:
                  - "{value}"
                  - "{value.n}"
                  - {id: "{key}", tags: ["{value.tags}", lit]}
                  - 5
                  - null
                  - "n={value.n}"
        """)
    value = '{"n": 1.5, "tags": ["a"], "deep": {"x": null}}'
    action = router.route(record(value, key="k"))[0].action
    assert action.arguments == (  # type: ignore[union-attr]
        {"n": 1.5, "tags": ["a"], "deep": {"x": None}},
        1.5,
        {"id": "k", "tags": [["a"], "lit"]},
        5,
        None,
        "n=1.5",
    )


def test_excluded_from_header_and_missing_header_excludes_nobody() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{send: {target: t, groupName: g, excluded: ["{headers.sender}", fixed]}}]
        """)
    assert router.route(record("{}", headers={"sender": "c9"}))[0].action == sa.SendToGroup(
        target="t", group="g", excluded=("c9", "fixed")
    )
    assert router.route(record("{}"))[0].action == sa.SendToGroup(target="t", group="g", excluded=("fixed",))


def test_literal_braces_are_escaped_by_doubling() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{send: {target: t, groupName: "{{literal}}-{value.a}"}}]
        """)
    assert router.route(record('{"a": "x"}'))[0].action == sa.SendToGroup(target="t", group="{literal}-x")


@pytest.mark.parametrize(
    ("value_format", "value", "expected"),
    [
        ("text", b"hello \xc3\xa9", "hello \u00e9"),
        ("bytes", b"\x00\xff", "AP8="),
        ("json", b'"just a string"', "just a string"),
    ],
)
def test_value_formats(value_format: str, value: bytes, expected: str) -> None:
    router = router_for(f"""\
        - name: r
          topics: [chat]
          value_format: {value_format}
          actions: [{{send: {{target: t, all: true, arguments: ["{{value}}"]}}}}]
        """)
    assert router.route(record(value))[0].action.arguments == (expected,)  # type: ignore[union-attr]


def test_tombstone_value_is_null() -> None:
    router = router_for("""\
        - name: deletes
          topics: [chat]
          filter: value == null
          actions: [{group: {action: removeAll, userId: "{key}"}}]
        """)
    assert [r.action for r in router.route(record(None, key="ann"))] == [
        sa.RemoveUserFromAllGroups(user_id="ann")
    ]
    assert router.route(record("{}", key="ann")) == []


def test_binary_key_is_readable_text_not_an_error() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{send: {target: t, userId: "{key}"}}]
        """)
    assert router.route(record("{}", key=b"a\xffb"))[0].action == sa.SendToUser(
        target="t", user_id="a\ufffdb"
    )


@pytest.mark.parametrize(
    ("value", "reason", "message"),
    [
        (
            b"{not json",
            RoutingReason.DECODE_ERROR,
            'route "rooms": field "value": value is not JSON: '
            "Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (
            b"\xff\xfe",
            RoutingReason.DECODE_ERROR,
            'route "rooms": field "value": value is not UTF-8 text (byte 0)',
        ),
        (
            b'{"roomId": NaN}',
            RoutingReason.DECODE_ERROR,
            'route "rooms": field "value": value is not JSON: NaN is not allowed',
        ),
        (
            b'{"sender": "a", "text": "b"}',
            RoutingReason.MISSING_FIELD,
            'route "rooms": field "actions[0].send.groupName": expression \'value.roomId\' matched nothing',
        ),
        (
            b'{"roomId": {"id": 1}, "sender": "a", "text": "b"}',
            RoutingReason.INVALID_FIELD,
            'route "rooms": field "actions[0].send.groupName": expression \'value.roomId\' gave an object; '
            "expected text",
        ),
        (
            b'{"roomId": [[1]], "sender": "a", "text": "b"}',
            RoutingReason.INVALID_FIELD,
            'route "rooms": field "actions[0].send.groupName": '
            "expression 'value.roomId' gave a list inside "
            "a list; expected text",
        ),
    ],
)
def test_unroutable_records_raise_routing_error(value: bytes, reason: RoutingReason, message: str) -> None:
    with pytest.raises(RoutingError) as caught:
        router_for(SEND_TO_ROOM).route(record(value))
    assert caught.value.reason == reason
    assert str(caught.value) == message


def test_argument_null_is_passed_through_not_an_error() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{send: {target: t, all: true, arguments: ["{value.missing}"]}}]
        """)
    assert router.route(record("{}"))[0].action.arguments == (None,)  # type: ignore[union-attr]


def test_group_name_breaking_service_rules_is_invalid_field() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{send: {target: t, groupName: "{value.g}"}}]
        """)
    with pytest.raises(RoutingError) as caught:
        router.route(record('{"g": "   "}'))
    assert caught.value.reason == RoutingReason.INVALID_FIELD
    assert str(caught.value) == (
        'route "r": field "actions[0].send.groupName": group name must not be empty or whitespace only'
    )


def test_function_type_error_is_expression_error() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          filter: length(value.n) > `1`
          actions: [{send: {target: t, all: true}}]
        """)
    assert len(router.route(record('{"n": "abc"}'))) == 1
    with pytest.raises(RoutingError) as caught:
        router.route(record('{"n": 5}'))
    assert caught.value.reason == RoutingReason.EXPRESSION_ERROR
    assert caught.value.field == "filter"


def test_a_failing_action_yields_no_partial_result() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions:
            - send: {target: t, all: true}
            - send: {target: t, userId: "{value.user}"}
        """)
    with pytest.raises(RoutingError):
        router.route(record("{}"))


def test_subscription_lists_topics_and_patterns() -> None:
    router = router_for("""\
        - name: a
          topics: [chat, orders]
          actions: [{send: {target: t, all: true}}]
        - name: b
          topic_pattern: tele\\..*
          actions: [{send: {target: t, all: true}}]
        """)
    assert router.topics == frozenset({"chat", "orders"})
    assert [p.pattern for p in router.topic_patterns] == ["tele\\..*"]


def test_huge_combinations_are_refused_before_they_are_built() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{group: {action: add, userId: "{value.users}", groupName: "{value.groups}"}}]
        """)
    many = json.dumps({"users": [f"u{i}" for i in range(3000)], "groups": [f"g{i}" for i in range(3000)]})
    with pytest.raises(RoutingError) as caught:
        router.route(record(many))
    assert caught.value.reason == RoutingReason.FANOUT_LIMIT
    assert (
        str(caught.value)
        == 'route "r": field "actions[0].group.groupName": fans out to 3000 values, more than max_fanout 100'
    )


def test_ttl_text_that_only_looks_numeric_is_invalid() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          actions: [{group: {action: add, userId: u, groupName: g, ttl: "{value.ttl}"}}]
        """)
    with pytest.raises(RoutingError) as caught:
        router.route(record('{"ttl": "\\u00b2"}'))
    assert caught.value.reason == RoutingReason.INVALID_FIELD


def test_member_group_pairs_count_against_max_fanout() -> None:
    router = router_for("""\
        - name: r
          topics: [chat]
          max_fanout: 10
          actions: [{group: {action: remove, userId: "{value.users}", groupName: "{value.groups}"}}]
        """)
    assert len(router.route(record(json.dumps({"users": ["a", "b"], "groups": ["x", "y"]})))) == 4
    with pytest.raises(RoutingError) as caught:
        router.route(record(json.dumps({"users": list("abcd"), "groups": list("wxyz")})))
    assert (
        str(caught.value)
        == 'route "r": field "actions[0].group": fans out to 16 actions, more than max_fanout 10'
    )
