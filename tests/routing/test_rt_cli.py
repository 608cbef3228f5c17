"""The ``check``, ``route`` and ``schema`` commands as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rt_helpers import config_text

from bridge.cli import main
from bridge.config.json_schema import render_json_schema

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
ROUTES = """\
- name: rooms
  topics: [chat]
  filter: value.type == 'message'
  actions:
    - send: {target: newMessage, groupName: "room-{value.roomId}", arguments: ["{value.text}"]}
"""

WriteConfig = Callable[..., Path]


def test_check_ok(write_config: WriteConfig, signalr_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(config_text(ROUTES))
    assert main(["check", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: OK (1 route; topics: chat)\n"


def test_check_reports_errors_on_stderr(
    write_config: WriteConfig, signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(config_text(ROUTES.replace("room-{value.roomId}", "room-{value.roomId")))
    assert main(["check", "--config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f'{path}:10: route "rooms": field "actions[0].send.groupName": unclosed \'{{\' at column 6 '
        "(write '{{' for a literal brace)\n"
    )


def test_check_fails_without_a_connection_string(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AzureSignalRConnectionString", raising=False)
    path = write_config(config_text(ROUTES))
    assert main(["check", "--config", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}: signalr: no connection string: set signalr.connection_string, signalr.endpoints, "
        "or the AzureSignalRConnectionString environment variable\n"
    )


def test_check_never_prints_the_access_key(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AzureSignalRConnectionString", "Endpoint=nope;AccessKey=TopSecretKey")
    path = write_config(config_text(ROUTES))
    assert main(["check", "--config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "invalid connection string" in err
    assert "TopSecretKey" not in out + err


def test_route_prints_requests(
    write_config: WriteConfig, signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(config_text(ROUTES))
    code = main(
        ["route", "-c", str(path), "-t", "chat", "-v", '{"type":"message","roomId":"a b","text":"hi"}']
    )
    assert code == 0
    assert capsys.readouterr().out == (
        '1. route "rooms" (ordering: key): SendToGroup\n'
        "   POST https://example.service.signalr.net/api/hubs/chat/groups/room-a%20b/:send?api-version=2022-06-01\n"
        '   {"target":"newMessage","arguments":["hi"]}\n'
    )


def test_route_without_connection_string_uses_placeholder(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AzureSignalRConnectionString", raising=False)
    path = write_config(config_text(ROUTES))
    assert (
        main(["route", "-c", str(path), "-t", "chat", "-v", '{"type":"message","roomId":1,"text":"x"}']) == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("note: no SignalR connection string is configured; URLs use the placeholder ")
    assert "POST https://<your-signalr>.service.signalr.net/api/hubs/chat/groups/room-1/:send" in out


def test_route_explains_dead_letter(
    write_config: WriteConfig, signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(config_text(ROUTES))
    assert main(["route", "-c", str(path), "-t", "chat", "-v", "not json"]) == 3
    assert capsys.readouterr().out == (
        'dead-letter (decode_error): route "rooms": field "value": value is not JSON: '
        "Expecting value at line 1 column 1\n"
        "-> not dead-lettered (no dead_letter.topic): the record would be logged, counted and skipped\n"
    )


def test_route_preflight_failure_is_reported(
    write_config: WriteConfig, signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(config_text(ROUTES))
    big = json.dumps({"type": "message", "roomId": 1, "text": "x" * (1024 * 1024)})
    assert main(["route", "-c", str(path), "-t", "chat", "-v", big]) == 3
    assert capsys.readouterr().out.startswith("dead-letter (rejected): send_to_group: body is ")


def test_route_unknown_topic(
    write_config: WriteConfig, signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(config_text(ROUTES))
    assert main(["route", "-c", str(path), "-t", "orders", "-v", "{}"]) == 0
    assert capsys.readouterr().out == (
        'no route matches topic "orders": the record would be committed without any request\n'
    )


def test_route_rejects_malformed_header(
    write_config: WriteConfig, signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(config_text(ROUTES))
    assert main(["route", "-c", str(path), "-t", "chat", "-H", "novalue", "-v", "{}"]) == 2
    assert capsys.readouterr().err == "error: --header 'novalue' is not NAME=VALUE\n"


def test_route_uses_key_headers_and_value_file(
    write_config: WriteConfig, signalr_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        config_text("""\
            - name: r
              topics: [chat]
              value_format: text
              actions: [{send: {target: t, userId: "{key}", arguments: ["{headers.trace}", "{value}"]}}]
            """)
    )
    value_file = tmp_path / "value.txt"
    value_file.write_bytes(b"line1\nline2")
    argv = [
        "route",
        "-c",
        str(path),
        "-t",
        "chat",
        "-k",
        "ann",
        "-H",
        "trace=t=1",
        "--value-file",
        str(value_file),
    ]
    assert main(argv) == 0
    assert capsys.readouterr().out.endswith('{"target":"t","arguments":["t=1","line1\\nline2"]}\n')


def test_committed_json_schema_is_current() -> None:
    committed = (REPO / "config" / "signalr-bridge.schema.json").read_text(encoding="utf-8")
    assert committed == render_json_schema(), (
        "config/signalr-bridge.schema.json is stale: run "
        "signalr-bridge schema --output config/signalr-bridge.schema.json"
    )


def test_schema_command_runs_as_a_program() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "schema"], capture_output=True, text=True, check=True, cwd=REPO
    )
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"kafka", "signalr"}  # routes, upstream.routes, or both
    assert {"routes", "upstream"} <= set(schema["properties"])


def test_check_reports_missing_tls_files(
    write_config: WriteConfig, signalr_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    base = (
        "kafka:\n  bootstrap_servers: h:9093\n  security:\n    protocol: SSL\n"
        f"    tls: {{ca_file: {ca}, cert_file: {tmp_path / 'client.pem'}}}\nsignalr:\n  hub: chat\n"
    )
    path = write_config(config_text(ROUTES, base=base))
    assert main(["check", "--config", str(path)]) == 1
    assert (
        capsys.readouterr().err
        == f"{path}: kafka.security.tls.cert_file: no such file: {tmp_path / 'client.pem'}\n"
    )


def test_check_and_route_never_touch_the_network(
    write_config: WriteConfig,
    signalr_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    path = write_config(config_text(ROUTES))
    assert main(["check", "--config", str(path)]) == 0
    assert (
        main(["route", "-c", str(path), "-t", "chat", "-v", '{"type":"message","roomId":1,"text":"x"}']) == 0
    )
    assert "POST https://example.service.signalr.net/" in capsys.readouterr().out


def test_check_warns_about_unverified_tls_but_passes(
    write_config: WriteConfig, signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    base = (
        "kafka:\n  bootstrap_servers: h:9093\n  security:\n    protocol: SSL\n    tls: {verify: false}\n"
        "signalr:\n  hub: chat\n"
    )
    path = write_config(config_text(ROUTES, base=base))
    assert main(["check", "--config", str(path)]) == 0
    assert capsys.readouterr().err == (
        f"{path}: warning: kafka.security.tls.verify is false: the broker certificate is not checked\n"
    )


def test_check_offline_turns_environment_problems_into_warnings(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AzureSignalRConnectionString", raising=False)
    monkeypatch.delenv("SASL_PASSWORD", raising=False)
    base = (
        "kafka:\n  bootstrap_servers: h:9093\n  security:\n    protocol: SASL_SSL\n"
        "    sasl: {mechanism: PLAIN, username: u, password: '${SASL_PASSWORD}'}\nsignalr:\n  hub: chat\n"
    )
    path = write_config(config_text(ROUTES, base=base))
    assert main(["check", "--config", str(path)]) == 1
    assert capsys.readouterr().err == (
        f'{path}:5: field "kafka.security.sasl.password": environment variable SASL_PASSWORD is not set '
        "(use ${SASL_PASSWORD:-fallback} for a default)\n"
    )
    assert main(["check", "--offline", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: OK (1 route; topics: chat)\n"
    assert err == (
        f"{path}: warning: signalr: no connection string: set signalr.connection_string, "
        "signalr.endpoints, or the AzureSignalRConnectionString environment variable\n"
        f"{path}: warning: environment variable SASL_PASSWORD is not set\n"
    )


def test_check_offline_still_fails_on_problems_of_the_file(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AzureSignalRConnectionString", raising=False)
    path = write_config(config_text(ROUTES.replace("room-{value.roomId}", "room-{value.roomId")))
    assert main(["check", "--offline", "--config", str(path)]) == 1
    assert "unclosed '{'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "routes",
    [
        "- name: rooms\n  topics: [chat, chat.dlq]\n  actions: [{send: {target: t, all: true}}]\n",
        "- name: everything\n  topic_pattern: 'chat.*'\n  actions: [{send: {target: t, all: true}}]\n",
    ],
    ids=["named", "pattern"],
)
def test_check_refuses_a_dead_letter_topic_that_is_also_routed(
    routes: str, write_config: WriteConfig, signalr_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # One bad record would loop: fail, dead-letter, consume the dead letter, fail again...
    base = "kafka:\n  bootstrap_servers: h:9092\nsignalr:\n  hub: chat\ndead_letter:\n  topic: chat.dlq\n"
    path = write_config(config_text(routes, base=base))
    name = "rooms" if "rooms" in routes else "everything"
    for argv in (["check"], ["check", "--offline"]):
        assert main([*argv, "--config", str(path)]) == 1
        assert capsys.readouterr().err == (
            f'{path}:6: field "dead_letter.topic": the dead-letter topic is also consumed by route "{name}": '
            "each failure would be dead-lettered again and again; use a topic no route reads\n"
        )


def test_check_loads_the_tls_material_the_bridge_would_load(
    write_config: WriteConfig, signalr_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    base = (
        "kafka:\n  bootstrap_servers: h:9093\n  security:\n    protocol: SSL\n"
        f"    tls: {{ca_file: {ca}}}\nsignalr:\n  hub: chat\n"
    )
    path = write_config(config_text(ROUTES, base=base))
    assert main(["check", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: kafka.security.tls: cannot load the certificates: ")
    assert err.count("\n") == 1
