"""The table of broken configs: each one is rejected with exactly the message a user sees."""

from __future__ import annotations

import pytest
from rt_helpers import BASE, config_text

from bridge.config import ConfigError, load_config_text
from bridge.routing import compile_routes

pytestmark = pytest.mark.unit

OK_ACTION = "actions: [{send: {target: t, all: true}}]"

# (id, config text, environment, exact error text)
BROKEN: list[tuple[str, str, dict[str, str], str]] = [
    (
        "empty-file",
        "",
        {},
        "bridge.yaml:1: the file is empty; expected a mapping with kafka, signalr and routes",
    ),
    (
        "yaml-syntax",
        "kafka:\n  bootstrap_servers: [a:1\nsignalr: {}\n",
        {},
        "bridge.yaml:3: invalid YAML: expected ',' or ']', but got ':'",
    ),
    (
        "duplicate-key",
        config_text(f"- name: r\n  topics: [a]\n  topics: [b]\n  {OK_ACTION}\n"),
        {},
        'bridge.yaml:8: route "#1": field "topics": duplicate key \'topics\' (first defined on line 7)',
    ),
    (
        "non-text-key",
        config_text(f"- name: r\n  topics: [a]\n  {OK_ACTION}\n  1: x\n"),
        {},
        'bridge.yaml:9: route "#1": key 1 must be text (quote it)',
    ),
    (
        "self-referencing-alias",
        BASE + "routes: &r [*r]\n",
        {},
        'bridge.yaml:5: route "#1": an alias refers to its own anchor',
    ),
    (
        "missing-sections",
        "routes: []\n",
        {},
        'bridge.yaml: field "kafka": is required\n'
        'bridge.yaml: field "signalr": is required\n'
        'bridge.yaml:1: field "routes": needs at least one route (here or in upstream.routes)',
    ),
    (
        "unknown-key-typo",
        BASE.replace("  hub: chat", "  hub: chat\n  api_verison: '2024-12-01'")
        + f"routes:\n  - name: r\n    topics: [a]\n    {OK_ACTION}\n",
        {},
        'bridge.yaml:5: field "signalr.api_verison": unknown key (did you mean "api_version"?)',
    ),
    (
        "unknown-key-no-suggestion",
        config_text(f"- name: r\n  topics: [a]\n  colour: blue\n  {OK_ACTION}\n"),
        {},
        'bridge.yaml:8: route "r": field "colour": unknown key '
        "(expected one of: name, topics, topic_pattern, "
        "value_format, filter, ordering, hub, max_fanout, actions)",
    ),
    (
        "bad-api-version",
        BASE.replace("  hub: chat", "  hub: chat\n  api_version: 2021-01-01")
        + f"routes:\n  - name: r\n    topics: [a]\n    {OK_ACTION}\n",
        {},
        'bridge.yaml:5: field "signalr.api_version": '
        "must be '2022-06-01', '2023-07-01', '2024-12-01' or 'v1' "
        "(got '2021-01-01')",
    ),
    (
        "bad-bootstrap-server",
        BASE.replace("127.0.0.1:9092", "localhost")
        + f"routes:\n  - name: r\n    topics: [a]\n    {OK_ACTION}\n",
        {},
        "bridge.yaml:2: field \"kafka.bootstrap_servers\": 'localhost' is not host:port",
    ),
    (
        "sasl-without-credentials",
        BASE.replace(
            "  bootstrap_servers: 127.0.0.1:9092",
            "  bootstrap_servers: h:9093\n  security:\n    protocol: SASL_SSL",
        )
        + f"routes:\n  - name: r\n    topics: [a]\n    {OK_ACTION}\n",
        {},
        "bridge.yaml:3: field \"kafka.security\": protocol SASL_SSL needs a 'sasl' section "
        "(mechanism, username, password)",
    ),
    (
        "bad-sasl-mechanism",
        BASE.replace(
            "  bootstrap_servers: 127.0.0.1:9092",
            "  bootstrap_servers: h:9093\n  security:\n    protocol: SASL_SSL\n    sasl:\n"
            "      mechanism: GSSAPI\n      username: u\n      password: p",
        )
        + f"routes:\n  - name: r\n    topics: [a]\n    {OK_ACTION}\n",
        {},
        "bridge.yaml:6: field \"kafka.security.sasl.mechanism\": must be 'PLAIN', 'SCRAM-SHA-256' or "
        "'SCRAM-SHA-512' (got 'GSSAPI')",
    ),
    (
        "unset-environment-variable",
        BASE
        + "  connection_string: ${SIGNALR_CS}\n"
        + f"routes:\n  - name: r\n    topics: [a]\n    {OK_ACTION}\n",
        {},
        'bridge.yaml:5: field "signalr.connection_string": environment variable SIGNALR_CS is not set '
        "(use ${SIGNALR_CS:-fallback} for a default)",
    ),
    (
        "bad-connection-string-without-leaking-key",
        BASE
        + "  connection_string: ${SIGNALR_CS}\n"
        + f"routes:\n  - name: r\n    topics: [a]\n    {OK_ACTION}\n",
        {"SIGNALR_CS": "Endpoint=ftp://x;AccessKey=SuperSecretKey123"},
        'bridge.yaml:5: field "signalr.connection_string": invalid connection string: '
        "Endpoint must be an absolute http or https "
        "URL, got 'ftp://x' (value from environment variable SIGNALR_CS)",
    ),
    (
        "connection-string-and-endpoints",
        BASE
        + "  connection_string: Endpoint=https://a;AccessKey=k\n"
        + "  endpoints: [{name: e, connection_string: 'Endpoint=https://b;AccessKey=k'}]\n"
        + f"routes:\n  - name: r\n    topics: [a]\n    {OK_ACTION}\n",
        {},
        'bridge.yaml:3: field "signalr": use either connection_string or endpoints, not both',
    ),
    (
        "no-routes",
        BASE,
        {},
        'bridge.yaml: field "routes": needs at least one route (here or in upstream.routes)',
    ),
    (
        "route-without-topics",
        config_text(f"- name: r\n  {OK_ACTION}\n"),
        {},
        'bridge.yaml:6: route "r": a route needs topics, topic_pattern, or both',
    ),
    (
        "bad-topic-name",
        config_text(f"- name: r\n  topics: ['chat messages']\n  {OK_ACTION}\n"),
        {},
        'bridge.yaml:7: route "r": field "topics[0]": \'chat messages\' is not a Kafka topic name '
        "(1..249 of letters, digits, '.', '_', '-')",
    ),
    (
        "bad-topic-pattern",
        config_text(f"- name: r\n  topic_pattern: 'chat(['\n  {OK_ACTION}\n"),
        {},
        'bridge.yaml:7: route "r": field "topic_pattern": invalid regular expression: '
        "unterminated character set at position 5",
    ),
    (
        "duplicate-route-names",
        config_text(f"- name: r\n  topics: [a]\n  {OK_ACTION}\n- name: r\n  topics: [b]\n  {OK_ACTION}\n"),
        {},
        'bridge.yaml:9: route "r": field "name": duplicate route name (route #1 has the same name)',
    ),
    (
        "filter-syntax",
        config_text(f"- name: r\n  topics: [a]\n  filter: value.type ==\n  {OK_ACTION}\n"),
        {},
        'bridge.yaml:8: route "r": field "filter": invalid expression \'value.type ==\': '
        "the expression is incomplete",
    ),
    (
        "unknown-function",
        config_text(f"- name: r\n  topics: [a]\n  filter: lenght(value.items) > `2`\n  {OK_ACTION}\n"),
        {},
        'bridge.yaml:8: route "r": field "filter": invalid expression \'lenght(value.items) > `2`\': '
        "unknown function lenght()",
    ),
    (
        "unclosed-template",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n    - send: {target: t, groupName: 'room-{value.id'}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0].send.groupName": unclosed \'{\' at column 6 '
        "(write '{{' for a literal brace)",
    ),
    (
        "send-without-recipient",
        config_text("- name: r\n  topics: [a]\n  actions:\n    - send: {target: t}\n"),
        {},
        'bridge.yaml:9: route "r": field "actions[0].send": a send needs exactly one of all: true, userId, '
        "groupName, connectionId",
    ),
    (
        "send-with-two-recipients",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n    - send: {target: t, userId: u, groupName: g}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0].send": a send needs exactly one of all: true, userId, '
        "groupName, connectionId (found userId, groupName)",
    ),
    (
        "excluded-with-user",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n    - send: {target: t, userId: u, excluded: c}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0].send": excluded works only with all or groupName '
        "(the service has no excluded there)",
    ),
    (
        "action-with-two-kinds",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n"
            "    - send: {target: t, all: true}\n      close: {connectionId: c}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0]": an action needs exactly one of send, group, close '
        "(found send, close)",
    ),
    (
        "camel-case-required",
        config_text("- name: r\n  topics: [a]\n  actions:\n    - send: {target: t, user_id: u}\n"),
        {},
        'bridge.yaml:9: route "r": field "actions[0].send.user_id": unknown key (did you mean "userId"?)',
    ),
    (
        "empty-target",
        config_text("- name: r\n  topics: [a]\n  actions:\n    - send: {target: '', all: true}\n"),
        {},
        'bridge.yaml:9: route "r": field "actions[0].send.target": message target must not be empty',
    ),
    (
        "whitespace-group-name",
        config_text("- name: r\n  topics: [a]\n  actions:\n    - send: {target: t, groupName: '  '}\n"),
        {},
        'bridge.yaml:9: route "r": field "actions[0].send.groupName": '
        "group name must not be empty or whitespace only",
    ),
    (
        "ttl-too-large",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n"
            "    - group: {action: add, userId: u, groupName: g, ttl: 4000000000}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0].group.ttl": must be 0..2147483647 seconds',
    ),
    (
        "remove-all-with-group",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n"
            "    - group: {action: removeAll, userId: u, groupName: g}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0].group": removeAll takes no groupName',
    ),
    (
        "ttl-on-remove",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n"
            "    - group: {action: remove, userId: u, groupName: g, ttl: 5}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0].group": ttl applies only to action add with userId',
    ),
    (
        "ttl-not-a-number",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n"
            "    - group: {action: add, userId: u, groupName: g, ttl: one hour}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0].group.ttl": must be a number of seconds or a template '
        "such as '{value.ttl}'",
    ),
    (
        "bad-group-action",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n    - group: {action: join, userId: u, groupName: g}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0].group.action": '
        "must be 'add', 'remove' or 'removeAll' "
        "(got 'join')",
    ),
    (
        "argument-is-a-date",
        config_text(
            "- name: r\n  topics: [a]\n  actions:\n"
            "    - send: {target: t, all: true, arguments: [2024-01-01]}\n"
        ),
        {},
        'bridge.yaml:9: route "r": field "actions[0].send.arguments[0]": value is a date, which is not JSON '
        "(quote it to make it text)",
    ),
    (
        "bad-hub-name",
        config_text(f"- name: r\n  topics: [a]\n  hub: 9lives\n  {OK_ACTION}\n"),
        {},
        'bridge.yaml:8: route "r": field "hub": '
        "hub name '9lives' must start with a letter and contain only "
        "letters, digits and _`,.[] (1..128 characters)",
    ),
    (
        "dead-letter-reasons-without-topic",
        BASE
        + "dead_letter:\n  reasons: [decode_error]\n"
        + f"routes:\n  - name: r\n    topics: [a]\n    {OK_ACTION}\n",
        {},
        "bridge.yaml:5: field \"dead_letter\": 'reasons' needs a dead-letter 'topic'",
    ),
    (
        "bad-override-variable",
        config_text(f"- name: r\n  topics: [a]\n  {OK_ACTION}\n"),
        {"SIGNALR_BRIDGE__ROUTES__0__NAME": "x"},
        "bridge.yaml: environment variable SIGNALR_BRIDGE__ROUTES__0__NAME does not name a setting "
        "(sections: kafka, signalr, dead_letter, pipeline, observability, shutdown, upstream)",
    ),
    (
        "bad-override-value",
        config_text(f"- name: r\n  topics: [a]\n  {OK_ACTION}\n"),
        {"SIGNALR_BRIDGE__OBSERVABILITY__PORT": "http"},
        'bridge.yaml: field "observability.port": '
        "must be a valid integer, unable to parse string as an integer "
        "(value from environment variable SIGNALR_BRIDGE__OBSERVABILITY__PORT)",
    ),
    (
        "v1-cannot-remove-connection-from-all-groups",
        BASE.replace("  hub: chat", "  hub: chat\n  api_version: v1")
        + "routes:\n  - name: r\n    topics: [a]\n"
        + "    actions: [{group: {action: removeAll, connectionId: c}}]\n",
        {},
        'bridge.yaml:9: route "r": field "actions[0].group.action": removeAll for a connection needs '
        "signalr.api_version 2022-06-01 or later (v1 has no such operation)",
    ),
]


@pytest.mark.parametrize(
    ("text", "environ", "message"), [case[1:] for case in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_config_is_rejected_with_exact_message(
    text: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_routes(load_config_text(text, file="bridge.yaml", environ=environ))
    assert str(caught.value) == message


def test_table_has_at_least_twenty_cases() -> None:
    assert len({case[0] for case in BROKEN}) == len(BROKEN) >= 20


@pytest.mark.parametrize(("text", "environ"), [case[1:3] for case in BROKEN], ids=[c[0] for c in BROKEN])
def test_secret_never_appears_in_any_message(text: str, environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_routes(load_config_text(text, file="bridge.yaml", environ=environ))
    assert "SuperSecretKey123" not in str(caught.value)
    assert "SuperSecretKey123" not in repr(caught.value.issues)
