"""Property tests: whatever the record, routing returns actions or raises RoutingError, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rt_helpers import router_for

from bridge.config import ConfigError, load_config_text
from bridge.routing import Record, RoutedAction, RoutingError, RoutingReason, compile_routes
from bridge.routing.template import Template, TemplateSyntaxError, parse_template
from bridge.signalr import actions as sa

pytestmark = pytest.mark.unit

# Routes that exercise every feature, including ones that fail on unexpected input:
# functions with typed arguments, fan-out, ttl and hub templates, all value formats.
ROUTER = router_for("""\
    - name: everything
      topics: [chat, orders]
      filter: value.kind != 'skip'
      max_fanout: 5
      actions:
        - send:
            target: "{value.target || 'fallback'}"
            groupName: room-{value.room}
            arguments: ["{value}", "{value.a} and {value.b}", {k: "{key}", h: "{headers}"}]
            excluded: "{value.excluded}"
        - group: {action: add, userId: "{value.users}", groupName: "{value.room}", ttl: "{value.ttl}"}
        - close: {connectionId: "{value.conn}", reason: "{value.reason}"}
    - name: typed-functions
      topic_pattern: "ch.*"
      filter: length(value.items) > `1` && starts_with(key, 'a')
      hub: "{headers.hub}"
      actions: [{send: {target: t, userId: "{sort(value.items)}"}}]
    - name: text
      topics: [chat]
      value_format: text
      filter: contains(value, 'x')
      actions: [{send: {target: t, connectionId: "{value}"}}]
    - name: raw
      topics: [orders]
      value_format: bytes
      actions: [{send: {target: t, all: true, arguments: ["{value}", "{to_number(key)}"]}}]
    """)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
known_keys = st.sampled_from(
    ["target", "room", "a", "b", "excluded", "users", "ttl", "conn", "reason", "items", "kind"]
)
shaped_values = st.dictionaries(known_keys, json_values, max_size=8)
names = st.text(alphabet="abcXYZ-_ 0", min_size=1, max_size=6)
mostly_valid_values = st.fixed_dictionaries(
    {
        "room": names | st.lists(names, max_size=3),
        "a": names | st.integers(),
        "b": st.floats(allow_nan=False) | st.booleans(),
        "users": st.lists(names, max_size=3) | names,
        "ttl": st.integers(-2, 10**10) | st.just("60") | st.text(max_size=4),
        "conn": names,
        "reason": names,
    },
    optional={"target": names, "excluded": st.lists(names, max_size=2), "items": st.lists(names, max_size=3)},
)
values = st.one_of(
    st.none(),
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped_values.map(lambda v: json.dumps(v).encode()),
    mostly_valid_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"NaN", b"[1e999]", b"[" * 5000, b'{"a": 1', b"\xff"]),
)
records = st.builds(
    Record,
    topic=st.sampled_from(["chat", "orders", "chatter", "other"]),
    partition=st.integers(0, 10),
    offset=st.integers(0, 2**40),
    timestamp_ms=st.none() | st.integers(0, 2**42),
    key=st.none() | st.binary(max_size=12) | st.sampled_from([b"a1", b"abc", b"12"]),
    value=values,
    headers=st.lists(
        st.tuples(
            st.sampled_from(["hub", "x", "trace"]), st.binary(max_size=12) | st.sampled_from([b"Chat", b"9"])
        ),
        max_size=3,
    ).map(tuple),
)


def _check_action(action: sa.Action) -> None:
    if isinstance(action, sa.SendToAll | sa.SendToUser | sa.SendToGroup | sa.SendToConnection):
        assert action.target
        json.dumps(action.arguments, allow_nan=False)  # the body must be strict JSON
    for name in ("user_id", "group", "connection_id"):
        value = getattr(action, name, None)
        assert value is None or (isinstance(value, str) and value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_route_returns_actions_or_raises_routing_error_only(record: Record) -> None:
    error: RoutingError | None = None
    routed: list[RoutedAction] = []
    try:
        routed = ROUTER.route(record)
    except RoutingError as exc:
        error = exc
    if error is not None:
        assert error.reason in set(RoutingReason)
        assert error.route in {"everything", "typed-functions", "text", "raw"}
        assert str(error)
        return
    for item in routed:
        assert isinstance(item, RoutedAction)
        _check_action(item.action)
    assert ROUTER.route(record) == routed  # deterministic


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("{}ab.'`\"[]|&!= \\$"), max_size=30))
def test_template_parser_raises_only_its_own_error(text: str) -> None:
    try:
        template = parse_template(text)
    except TemplateSyntaxError:
        return
    assert isinstance(template, Template)


@settings(max_examples=200, deadline=None)
@given(st.text().filter(lambda s: "{" not in s and "}" not in s))
def test_text_without_braces_is_a_literal(text: str) -> None:
    template = parse_template(text)
    assert template.is_literal
    assert template.literal == text


@given(st.text(max_size=20))
def test_doubled_braces_render_as_single_braces(text: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    template = parse_template(escaped)
    assert template.literal == text


VALID_CONFIG = (Path(__file__).resolve().parents[2] / "config" / "membership.yaml").read_text(
    encoding="utf-8"
)


@st.composite
def mutated_configs(draw: st.DrawFn) -> str:
    """A valid example with a few lines deleted, duplicated, or garbled."""
    lines = VALID_CONFIG.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "insert", "replace-char"]))
        if kind == "delete":
            del lines[index]
        elif kind == "duplicate":
            lines.insert(index, lines[index])
        elif kind == "insert":
            lines.insert(index, draw(st.text(alphabet=" :-[]{}#&*!|>'\"%@`$ab1\t", max_size=20)))
        elif lines[index]:
            position = draw(st.integers(0, len(lines[index]) - 1))
            char = draw(st.sampled_from(list(" :-[]{}#&*!|>'\"%@`$ab1?,")))
            lines[index] = lines[index][:position] + char + lines[index][position + 1 :]
        if not lines:
            break
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_any_broken_file_is_rejected_with_config_error_only(text: str) -> None:
    error: ConfigError | None = None
    try:
        compile_routes(load_config_text(text, file="f.yaml", environ={}))
    except ConfigError as exc:
        error = exc
    if error is None:
        return
    assert error.issues
    for issue in error.issues:
        assert str(issue).startswith("f.yaml")
