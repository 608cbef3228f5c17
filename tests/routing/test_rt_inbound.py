"""Inbound routes (``upstream.routes``): loading, ``check`` with located errors, and routing envelopes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rt_helpers import BASE

from bridge.cli import main
from bridge.config import ConfigError, load_config_text
from bridge.routing import RoutingError
from bridge.routing.inbound import compile_inbound_routes

pytestmark = pytest.mark.unit

OUTBOUND = "routes:\n  - name: out\n    topics: [chat-in]\n    actions: [{send: {target: t, all: true}}]\n"


def inbound(routes: str, settings: str = "") -> str:
    return BASE + "upstream:\n" + settings + "  routes:\n" + routes


def envelope(**fields: Any) -> dict[str, Any]:
    base = {"hub": "chat", "category": "messages", "event": "send", "connectionId": "c1", "userId": None}
    return {**base, "arguments": [], **fields}


ROUTES = """\
    - name: sends
      category: messages
      event: "send, join"
      topic: chat-in
    - name: presence
      hub: ["chat", "Lobby"]
      category: connections
      filter: "event == 'connected'"
      topic: presence
      key: "{connectionId}"
      headers: {x-hub: "{hub}", x-who: "user-{userId || 'anonymous'}"}
"""


def router(text: str = inbound(ROUTES)) -> Any:
    loaded = load_config_text(text, file="bridge.yaml", environ={})
    return compile_inbound_routes(loaded)


def test_a_config_may_hold_inbound_routes_only_outbound_only_or_both() -> None:
    only_in = load_config_text(inbound(ROUTES), environ={}).config
    assert only_in.routes == ()
    assert only_in.upstream is not None
    assert len(only_in.upstream.routes) == 2
    both = load_config_text(inbound(ROUTES) + OUTBOUND, environ={}).config
    assert len(both.routes) == 1
    assert both.upstream is not None
    only_out = load_config_text(BASE + OUTBOUND, environ={}).config
    assert only_out.upstream is None


def test_events_match_by_hub_category_and_event_patterns() -> None:
    routes = router()
    assert [t.route for t in routes.route(envelope(event="join"))] == ["sends"]
    assert routes.route(envelope(event="leave")) == []
    assert not routes.wants("chat", "messages", "leave")
    assert not routes.wants("other", "messages", "send")  # the default hub is signalr.hub
    # Hubs are case-insensitive; the filter drops disconnects.
    [target] = routes.route(envelope(hub="LOBBY", category="connections", event="connected", userId="ann"))
    assert (target.topic, target.key, target.headers) == (
        "presence",
        "c1",
        (("x-hub", "LOBBY"), ("x-who", "user-ann")),
    )
    assert routes.route(envelope(category="connections", event="disconnected")) == []


def test_the_default_key_is_the_user_else_the_connection() -> None:
    routes = router()
    assert routes.route(envelope(userId="ann"))[0].key == "ann"
    assert routes.route(envelope())[0].key == "c1"


def test_a_key_the_event_cannot_fill_is_a_routing_error() -> None:
    routes = router(inbound("    - name: r\n      topic: t\n      key: '{arguments[0].room}'\n"))
    with pytest.raises(RoutingError) as caught:
        routes.route(envelope(arguments=["no room"]))
    assert caught.value.reason == "missing_field"


def test_metric_labels_are_values_a_route_names_or_other() -> None:
    routes = router()
    assert routes.labels("Chat", "messages", "send") == ("chat", "messages", "send")
    assert routes.labels("attacker-hub", "messages", "x" * 300) == ("other", "messages", "other")
    assert routes.labels("lobby", "connections", "connected") == ("lobby", "connections", "connected")
    assert routes.labels("lobby", "bogus", "connected") == ("lobby", "other", "other")


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        (
            "    - name: r\n      category: message\n      topic: t\n",
            'bridge.yaml:8: route "r": field "category": unknown category \'message\' '
            "(expected connections, messages or '*')",
        ),
        (
            "    - name: r\n      category: connections\n      event: send\n      topic: t\n",
            'bridge.yaml:7: route "r": category connections has only the events connected and '
            "disconnected, not 'send'",
        ),
        (
            "    - name: r\n      topic: t\n    - name: r\n      topic: u\n",
            'bridge.yaml:9: route "r": field "name": duplicate route name (route #1 has the same name)',
        ),
        (
            "    - name: r\n      event: ''\n      topic: t\n",
            'bridge.yaml:8: route "r": field "event": '
            "a pattern is '*', one name, or a list of names (no empty entries)",
        ),
        ("    - name: r\n", 'bridge.yaml:7: route "r": field "topic": is required'),
    ],
)
def test_broken_inbound_routes_are_located(routes: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(inbound(routes), file="bridge.yaml", environ={})
    assert str(caught.value) == message


def test_check_reports_template_expression_and_hub_errors_with_file_line_route_field(
    write_config: Callable[..., Path], signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        inbound(
            "    - name: broken\n"
            "      hub: [chat, 'no spaces']\n"
            "      topic: t\n"
            "      key: '{userId ||}'\n"
            "      filter: 'length(@, @)'\n"
            "      headers: {h: 'x-{'}\n"
        )
    )
    assert main(["check", "--config", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f'{path}:8: route "broken": field "hub[1]": hub name \'no spaces\'')
    assert (
        err[1] == f'{path}:10: route "broken": field "key": '
        "invalid expression 'userId ||': the expression is incomplete"
    )
    assert err[2].startswith(
        f'{path}:11: route "broken": field "filter": invalid expression \'length(@, @)\''
    )
    assert err[3].startswith(f'{path}:12: route "broken": field "headers.h": unclosed')


def test_check_summarises_both_directions(
    write_config: Callable[..., Path], signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(inbound(ROUTES) + OUTBOUND)
    assert main(["check", "--config", str(path)]) == 0
    assert (
        capsys.readouterr().out
        == f"{path}: OK (1 route; topics: chat-in; 2 inbound routes to topics: chat-in, presence)\n"
    )


def test_inbound_only_needs_an_access_key(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AzureSignalRConnectionString", raising=False)
    path = write_config(inbound(ROUTES))
    assert main(["check", "--config", str(path)]) == 1
    assert "upstream: no AccessKey to check the service's signatures" in capsys.readouterr().err
    # An Entra ID connection string has no AccessKey: the receiver refuses to run unchecked.
    monkeypatch.setenv(
        "AzureSignalRConnectionString",
        "Endpoint=https://x.service.signalr.net;AuthType=azure.msi;Version=1.0;",
    )
    assert main(["check", "--config", str(path)]) == 1
    assert "upstream.access_keys" in capsys.readouterr().err
    path = write_config(inbound(ROUTES, '  access_keys: ["${UPSTREAM_KEY}"]\n'))
    monkeypatch.setenv("UPSTREAM_KEY", "secret-key")
    assert main(["check", "--config", str(path)]) == 0
    assert "secret-key" not in capsys.readouterr().out


def test_environment_overrides_reach_upstream_settings_but_not_its_routes() -> None:
    config = load_config_text(inbound(ROUTES), environ={"SIGNALR_BRIDGE__UPSTREAM__PORT": "9911"}).config
    assert config.upstream is not None
    assert config.upstream.port == 9911
    with pytest.raises(ConfigError, match="does not name a setting"):
        load_config_text(inbound(ROUTES), environ={"SIGNALR_BRIDGE__UPSTREAM__ROUTES__0__TOPIC": "x"})
