"""An interrupted run leaves nothing behind that breaks the next one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka_broker import RUNS_DIR, reap_stale_runs

pytestmark = pytest.mark.integration

LAUNCH = """
import json, sys, time
sys.path.insert(0, {path!r})
from kafka_broker import KafkaBroker
broker = KafkaBroker().start()
print(json.dumps({{"pid": broker._process.pid, "dir": str(broker.log_file.parents[1])}}), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child stays a zombie until reaped by init; treat zombies as dead.
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return status != "Z"


def test_broker_dies_with_a_killed_owner_and_its_files_are_reaped() -> None:
    deploy_local = str(Path(__file__).resolve().parents[2] / "deploy" / "local")
    owner = subprocess.Popen(
        [sys.executable, "-c", LAUNCH.format(path=deploy_local)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        started = json.loads(owner.stdout.readline())
        assert _alive(started["pid"])
        owner.send_signal(signal.SIGKILL)  # what an OOM kill or a hard Ctrl-C of CI does
        owner.wait()
        deadline = time.monotonic() + 15
        while _alive(started["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(started["pid"]), "the broker outlived the process that started it"
        assert Path(started["dir"]).exists()
        reap_stale_runs()
        assert not Path(started["dir"]).exists()
        assert Path(started["dir"]).parent == RUNS_DIR
    finally:
        owner.kill()


PROBE = """
import sys
sys.path.insert(0, {path!r})
from kafka_broker import _serves_metadata
_serves_metadata({port}, timeout=120)
"""


def test_ctrl_c_interrupts_a_readiness_probe_at_once() -> None:
    """A broker that accepts but never answers holds the probe; Ctrl-C must still end it now."""
    deploy_local = str(Path(__file__).resolve().parents[2] / "deploy" / "local")
    accepted: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        server.settimeout(30)
        probe = subprocess.Popen(
            [sys.executable, "-c", PROBE.format(path=deploy_local, port=port)],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # The first connection is the plain port check; the second is the admin client's.
            while len(accepted) < 2:
                accepted.append(server.accept()[0])
            probe.send_signal(signal.SIGINT)
            _, stderr = probe.communicate(timeout=10)  # the probe's own deadline is 120 s
        finally:
            probe.kill()
            for connection in accepted:
                connection.close()
    assert probe.returncode != 0
    assert "KeyboardInterrupt" in stderr
