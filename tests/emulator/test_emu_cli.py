"""`signalr-bridge emulator` and `signalr-bridge token` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import jwt
import pytest
from emu_support import ACCESS_KEY, sign

from bridge.emulator import EmulatorServer

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "bridge"]


def _start_emulator(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*CLI, "emulator", "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def _fields(connection_string: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in connection_string.split(";") if part)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_emulator_prints_its_connection_string_serves_and_exits_0_on_signal(signum: int) -> None:
    process, line = _start_emulator("--access-key", ACCESS_KEY, "--test-hooks")
    try:
        fields = _fields(line)
        assert fields["Endpoint"] == "http://127.0.0.1"
        assert fields["AccessKey"] == ACCESS_KEY
        assert fields["Version"] == "1.0"
        base = f"http://127.0.0.1:{fields['Port']}"
        token = sign("http://127.0.0.1/api/hubs/chat/:send")
        response = httpx.post(
            f"{base}/api/hubs/chat/:send?api-version=2022-06-01",
            json={"target": "t"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 202
        assert httpx.get(f"{base}/_emulator/state").json()["requests"] == {"202": 1}
    finally:
        process.send_signal(signum)
        assert process.wait(timeout=20) == 0
        assert process.stderr is not None
        assert ACCESS_KEY not in process.stderr.read()


def test_emulator_without_key_makes_a_random_one_and_has_no_hooks() -> None:
    process, line = _start_emulator()
    try:
        key = _fields(line)["AccessKey"]
        assert len(key) >= 32
        state = httpx.get(f"http://127.0.0.1:{_fields(line)['Port']}/_emulator/state")
        assert state.status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=20)
    second, other_line = _start_emulator()
    second.terminate()
    second.wait(timeout=20)
    assert _fields(other_line)["AccessKey"] != key


async def test_emulator_on_a_busy_port_exits_2_with_one_line() -> None:
    async with EmulatorServer(access_key=ACCESS_KEY) as busy:
        process = await asyncio.create_subprocess_exec(
            *CLI, "emulator", "--port", str(busy.port), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        _out, err = await process.communicate()
        assert process.returncode == 2
        assert err.decode() == (
            f"signalr-bridge emulator: cannot listen on 127.0.0.1:{busy.port}: Address already in use\n"
        )


def _token(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "token", *args], capture_output=True, text=True, env=env, check=False, timeout=60
    )


def test_token_for_a_real_service_connection_string() -> None:
    cs = f"Endpoint=https://demo.service.signalr.net;AccessKey={ACCESS_KEY};Version=1.0;"
    result = _token("--connection-string", cs, "--hub", "Chat", "--user", "u1", "--lifetime", "120")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["url"] == "https://demo.service.signalr.net/client/?hub=chat"
    claims = jwt.decode(
        body["accessToken"], ACCESS_KEY.encode(), algorithms=["HS256"],
        audience="https://demo.service.signalr.net/client/?hub=chat",
    )  # fmt: skip
    assert claims["asrs.s.uid"] == "u1"
    assert time.time() + 100 < claims["exp"] <= time.time() + 120


def test_token_reads_the_functions_env_var_and_keeps_the_port_out_of_aud() -> None:
    cs = f"Endpoint=http://127.0.0.1;Port=8888;AccessKey={ACCESS_KEY};Version=1.0;"
    env = {**os.environ, "AzureSignalRConnectionString": cs}
    result = _token("--hub", "chat", env=env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["url"] == "http://127.0.0.1:8888/client/?hub=chat"
    assert jwt.decode(body["accessToken"], options={"verify_signature": False})["aud"] == (
        "http://127.0.0.1/client/?hub=chat"
    )


def test_token_without_connection_string_or_with_a_bad_one_fails_without_echoing_the_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AzureSignalRConnectionString"}
    missing = _token("--hub", "chat", env=env)
    assert missing.returncode == 2
    assert "AzureSignalRConnectionString" in missing.stderr
    bad = _token("--connection-string", "Endpoint=ftp://x;AccessKey=SECRETKEY123", "--hub", "chat", env=env)
    assert bad.returncode == 2
    assert "SECRETKEY123" not in bad.stderr + bad.stdout
