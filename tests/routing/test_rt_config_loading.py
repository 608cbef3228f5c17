"""Loading the config: defaults, ${ENV} substitution, environment overrides, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from rt_helpers import BASE, FAKE_CONNECTION_STRING, config_text, load

from bridge.config import BridgeConfig, ConfigError, load_config, load_config_text
from bridge.routing import compile_routes

pytestmark = pytest.mark.unit

ROUTE = "- name: r\n  topics: [chat]\n  actions: [{send: {target: t, all: true}}]\n"


def test_defaults_for_the_daemon_sections() -> None:
    config = load(config_text(ROUTE))
    assert config.kafka.bootstrap_servers == ("127.0.0.1:9092",)
    assert config.kafka.security.protocol == "PLAINTEXT"
    assert config.kafka.start_from == "latest"
    assert config.signalr.api_version == "2022-06-01"
    assert config.signalr.retry.max_attempts == 5
    assert config.pipeline.max_in_flight == 1000
    assert config.pipeline.max_in_flight_per_partition == 250
    assert (config.observability.host, config.observability.port) == ("0.0.0.0", 9108)
    assert config.observability.log_format == "json"
    assert config.shutdown.drain_timeout_seconds == 25
    assert config.dead_letter.topic is None
    assert not config.dead_letter.dead_letters("decode_error")


def test_config_objects_are_frozen() -> None:
    config = load(config_text(ROUTE))
    with pytest.raises(ValueError, match="frozen"):
        config.signalr.hub = "other"  # type: ignore[misc]


def test_env_substitution_with_fallback_and_escape() -> None:
    text = BASE.replace("127.0.0.1:9092", "${BROKER:-fallback:9092}") + "  application: ${APP}\n"
    text += "routes:\n  - name: r\n    topics: [chat]\n"
    text += "    actions: [{send: {target: 'cost $${not_a_var} $5', all: true}}]\n"
    config = load(text, {"APP": "tenant1"})
    assert config.kafka.bootstrap_servers == ("fallback:9092",)
    assert config.signalr.application == "tenant1"
    assert config.routes[0].actions[0].send.target == "cost ${not_a_var} $5"  # type: ignore[union-attr]
    assert load(text, {"APP": "a", "BROKER": "b:1"}).kafka.bootstrap_servers == ("b:1",)


def test_substituted_value_cannot_change_the_yaml_structure() -> None:
    text = BASE + "  application: ${APP}\n" + "routes:\n" + "  " + ROUTE.replace("\n  ", "\n    ")
    with pytest.raises(ConfigError) as caught:
        load(text, {"APP": "x\nhub: evil # comment"})
    assert "field \"signalr.application\": hub name 'x\\nhub: evil # comment'" in str(caught.value)


def test_event_hubs_username_stays_literal() -> None:
    text = BASE.replace(
        "  bootstrap_servers: 127.0.0.1:9092",
        "  bootstrap_servers: ns.servicebus.windows.net:9093\n  security:\n    protocol: SASL_SSL\n"
        "    sasl: {mechanism: PLAIN, username: $ConnectionString, password: '${EH_CS}'}",
    )
    config = load(
        text + "routes:\n  - " + ROUTE[2:].replace("\n  ", "\n    "), {"EH_CS": "Endpoint=sb://ns/;K=v"}
    )
    sasl = config.kafka.security.sasl
    assert sasl is not None
    assert sasl.username == "$ConnectionString"
    assert sasl.password.get_secret_value() == "Endpoint=sb://ns/;K=v"
    assert "Endpoint=sb" not in repr(config)


def test_connection_string_defaults_to_functions_env_var() -> None:
    config = load(config_text(ROUTE), {"AzureSignalRConnectionString": FAKE_CONNECTION_STRING})
    assert config.signalr.connection_string is not None
    assert config.signalr.connection_string.get_secret_value() == FAKE_CONNECTION_STRING
    assert "ABCDEFGH" not in repr(config.signalr)
    assert not load(config_text(ROUTE)).signalr.has_connection


def test_environment_overrides_set_secrets_and_settings() -> None:
    environ = {
        "SIGNALR_BRIDGE__SIGNALR__CONNECTION_STRING": FAKE_CONNECTION_STRING,
        "SIGNALR_BRIDGE__OBSERVABILITY__PORT": "9200",
        "SIGNALR_BRIDGE__KAFKA__BOOTSTRAP_SERVERS": "a:1,b:2",
    }
    config = load(config_text(ROUTE), environ)
    assert config.signalr.connection_string is not None
    assert config.observability.port == 9200
    assert config.kafka.bootstrap_servers == ("a:1", "b:2")


def test_override_of_list_item() -> None:
    text = BASE + (
        "  endpoints:\n    - {name: east, connection_string: 'Endpoint=https://e;AccessKey=old'}\n"
        "    - {name: west, connection_string: 'Endpoint=https://w;AccessKey=old', role: secondary}\n"
    )
    text += "routes:\n  - " + ROUTE[2:].replace("\n  ", "\n    ")
    environ = {"SIGNALR_BRIDGE__SIGNALR__ENDPOINTS__1__CONNECTION_STRING": "Endpoint=https://w;AccessKey=new"}
    endpoints = load(text, environ).signalr.endpoints
    assert endpoints[1].connection_string.get_secret_value().endswith("AccessKey=new")
    assert endpoints[0].connection_string.get_secret_value().endswith("AccessKey=old")


def test_unset_variables_tolerated_when_not_strict() -> None:
    text = BASE + "  application: x${MISSING}\n" + "routes:\n  - " + ROUTE[2:].replace("\n  ", "\n    ")
    loaded = load_config_text(text, file="f.yaml", environ={}, strict_env=False)
    assert loaded.unset_variables == ("MISSING",)
    assert loaded.config.signalr.application == "x"


def test_yaml_date_api_version_is_read_as_text() -> None:
    text = BASE + "  api_version: 2024-12-01\n" + "routes:\n  - " + ROUTE[2:].replace("\n  ", "\n    ")
    assert load(text).signalr.api_version == "2024-12-01"


def test_yaml_anchors_and_merge_keys_work() -> None:
    text = config_text(
        "- &base\n  name: a\n  topics: [chat]\n  actions: [{send: {target: t, all: true}}]\n"
        "- <<: *base\n  name: b\n"
    )
    assert [route.name for route in load(text).routes] == ["a", "b"]


def test_every_problem_is_reported_at_once() -> None:
    text = config_text(
        "- name: r\n  topics: [chat]\n  filter: 'a =='\n  actions: [{send: {target: '{x', all: true}}]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(text)
    assert [issue.line for issue in caught.value.issues] == [8, 9]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml", {})
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: cannot read the file: No such file or directory"


def test_log_level_is_case_insensitive() -> None:
    assert load(
        config_text(ROUTE), {"SIGNALR_BRIDGE__OBSERVABILITY__LOG_LEVEL": "debug"}
    ).observability.log_level == ("DEBUG")


def test_a_config_built_in_code_is_checked_too_and_names_route_and_field() -> None:
    good = load(config_text(ROUTE))
    data = good.model_dump(by_alias=True, exclude_unset=True)
    data["routes"][0]["actions"][0]["send"] = {"target": "t", "groupName": "room-{value.id"}
    with pytest.raises(ConfigError) as caught:
        compile_routes(BridgeConfig.model_validate(data))
    assert str(caught.value) == (
        '<config>: route "r": field "actions[0].send.groupName": '
        "unclosed '{' at column 6 (write '{{' for a literal brace)"
    )


def test_every_semantic_problem_is_listed_at_once_in_file_order() -> None:
    text = config_text(
        "- name: r\n  topics: [a]\n  filter: 'value.x =='\n"
        "  actions:\n    - send: {target: '', groupName: 'room-{'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        compile_routes(load_config_text(text, file="f.yaml", environ={}))
    assert [(issue.line, issue.field) for issue in caught.value.issues] == [
        (8, "filter"),
        (10, "actions[0].send.target"),
        (10, "actions[0].send.groupName"),
    ]
