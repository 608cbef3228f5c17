"""No traceback reaches a user: every error is one line on stderr and a documented exit code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.cli._exit import EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "bridge"]
FAKE_CONNECTION_STRING = "Endpoint=https://example.service.signalr.net;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;Version=1.0;"
MSI_CONNECTION_STRING = "Endpoint=https://example.service.signalr.net;AuthType=azure.msi;Version=1.0;"
CONFIG = """\
kafka: {bootstrap_servers: "127.0.0.1:1"}
signalr: {hub: chat}
observability: {host: 127.0.0.1, port: __PORT__}
routes:
  - name: r
    topics: [chat]
    actions: [{send: {target: t, all: true}}]
"""


def cli(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("SIGNALR_BRIDGE")}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, cwd=REPO, env={**environ, **(env or {})},
        timeout=60, check=False, **kwargs,
    )  # fmt: skip


def test_run_while_the_metrics_port_is_taken_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "bridge.yaml"
        config.write_text(CONFIG.replace("__PORT__", str(port)))
        result = cli(
            "run", "--config", str(config), env={"AzureSignalRConnectionString": FAKE_CONNECTION_STRING}
        )
    assert result.returncode == EXIT_USAGE
    assert result.stderr == (
        f"signalr-bridge run: cannot serve /metrics on 127.0.0.1:{port}: Address already in use "
        "(another bridge running? set observability.port, or SIGNALR_BRIDGE__OBSERVABILITY__PORT; "
        "0 picks a free port)\n"
    )


def test_emulator_with_an_impossible_port() -> None:
    result = cli("emulator", "--port", "99999")
    assert (result.returncode, result.stdout) == (EXIT_USAGE, "")
    assert result.stderr == (
        "signalr-bridge emulator: error: argument --port: 99999 is not a port number: use 0 to 65535, "
        "0 for any free port (see signalr-bridge emulator --help)\n"
    )


def test_schema_into_a_missing_directory() -> None:
    result = cli("schema", "-o", "/nonexistent/x.json")
    assert (result.returncode, result.stdout) == (EXIT_USAGE, "")
    assert (
        result.stderr
        == "signalr-bridge schema: cannot write /nonexistent/x.json: No such file or directory\n"
    )


def test_token_into_a_closed_pipe_exits_quietly() -> None:
    # `signalr-bridge token ... | head -c 10`, made deterministic: the reader is gone before the write.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [*CLI, "token", "--connection-string", FAKE_CONNECTION_STRING, "--hub", "chat"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (EXIT_BROKEN_PIPE, "")


def test_a_usage_error_is_one_line() -> None:
    result = cli("route", "--config", "config/local.yaml")
    assert result.returncode == EXIT_USAGE
    assert result.stderr == (
        "signalr-bridge route: error: the following arguments are required: --topic/-t "
        "(see signalr-bridge route --help)\n"
    )


def test_entra_id_without_the_azure_extra_is_caught_before_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)  # as if the [azure] extra were absent
    monkeypatch.setenv("AzureSignalRConnectionString", MSI_CONNECTION_STRING)
    config = tmp_path / "bridge.yaml"
    config.write_text(CONFIG.replace("__PORT__", "0"))
    line = (
        f"{config}: signalr.connection_string: AuthType=azure.msi needs azure-identity: "
        "pip install 'signalr-bridge[azure]'\n"
    )
    assert main(["check", "--config", str(config)]) == 1
    assert capsys.readouterr().err == line
    assert main(["run", "--config", str(config)]) == 2
    assert capsys.readouterr().err == line
    assert main(["check", "--offline", "--config", str(config)]) == 0
    assert capsys.readouterr().err == line.replace(": signalr.", ": warning: signalr.")


def test_an_unexpected_error_is_one_line_and_exit_70(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> str:
        raise RuntimeError("bug near Endpoint=https://x;AccessKey=SuperSecretKey123;\nsecond line")

    monkeypatch.delenv("SIGNALR_BRIDGE_DEBUG", raising=False)
    monkeypatch.setattr("bridge.cli.schema.render_json_schema", broken)
    assert main(["schema"]) == EXIT_INTERNAL
    assert capsys.readouterr().err == (
        "signalr-bridge schema: internal error: RuntimeError: bug near Endpoint=https://x;AccessKey=***; "
        "(a bug; --debug or SIGNALR_BRIDGE_DEBUG=1 shows the traceback)\n"
    )
    assert main(["--debug", "schema"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.endswith("shows the traceback)\n")


def test_ctrl_c_is_exit_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("bridge.cli.schema.render_json_schema", interrupted)
    assert main(["schema"]) == EXIT_INTERRUPTED
    assert "Traceback" not in capsys.readouterr().err


def test_run_without_kafka_ends_with_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(CONFIG.replace("__PORT__", "0"))  # Kafka at 127.0.0.1:1: nothing listens there
    result = cli("run", "--config", str(config), env={"AzureSignalRConnectionString": FAKE_CONNECTION_STRING})
    assert result.returncode == EXIT_USAGE
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("signalr-bridge run: Kafka at 127.0.0.1:1: ")
