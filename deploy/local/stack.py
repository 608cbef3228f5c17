"""The local demo stack: Kafka, the SignalR emulator, the bridge, a producer and a live client.

    make demo                      # or: .venv/bin/python deploy/local/stack.py

Starts a real Kafka broker (KRaft, from Maven jars), the SignalR emulator, the bridge with
``config/local.yaml``, a producer that writes a chat message to topic ``chat`` every second,
and the official JavaScript SignalR client, which prints every message it receives and every
few seconds sends one itself: ``invoke("send", text)`` -> the emulator's upstream call -> the
bridge -> topic ``chat-in`` -> the bridge -> every client (a round trip with no app server).
Ctrl-C stops everything. ``--duration S`` stops by itself after S seconds (used by the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from kafka_broker import KafkaBroker

from bridge.emulator import EmulatorServer, UpstreamSettings
from bridge.signalr.connection_string import parse_connection_string
from bridge.signalr.tokens import client_access

REPO = Path(__file__).resolve().parents[2]
JS_CLIENT = REPO / "tests" / "emulator" / "js"
NAMES = ["ann", "bob", "chen", "dana", "emil"]


def port_or_free(preferred: int, random_ports: bool) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", 0 if random_ports else preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def say(who: str, text: str) -> None:
    print(f"[{who:>8}] {text}", flush=True)


async def wait_ready(url: str, process: asyncio.subprocess.Process, within: float = 90) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the bridge exited with code {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError("the bridge did not become ready")


async def produce_forever(bootstrap: str, stop: asyncio.Event) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        n = 0
        while not stop.is_set():
            n += 1
            user = random.choice(NAMES)
            message = {"user": user, "text": f"hello #{n}"}
            await producer.send_and_wait("chat", json.dumps(message).encode(), key=user.encode())
            say("producer", f"chat <- {json.dumps(message)}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await producer.stop()


async def print_client(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    async for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "connected":
            say("client", f"connected to hub 'chat' as user 'demo' ({event['connectionId']})")
        elif event["event"] == "message":
            say("client", f"received {event['target']}: {', '.join(map(str, event['arguments']))}")
        elif event["event"] != "result":  # an invoke() the bridge confirmed: its message follows
            say("client", json.dumps(event))


async def invoke_forever(process: asyncio.subprocess.Process, stop: asyncio.Event) -> None:
    """The client speaks too: invoke("send", text) goes upstream, into Kafka, and back to everyone."""
    assert process.stdin is not None
    n = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 3.0)
        if stop.is_set():
            return
        n += 1
        text = f"hello from the client #{n}"
        say("client", f"invoke send: {text}")
        process.stdin.write(json.dumps({"id": n, "invoke": "send", "arguments": [text]}).encode() + b"\n")
        await process.stdin.drain()


async def main(duration: float | None, random_ports: bool) -> int:
    node = shutil.which("node")
    if node is None or not (JS_CLIENT / "node_modules").is_dir():
        print("the demo client needs Node.js and `make setup` (npm packages)", file=sys.stderr)
        return 2
    kafka_port = port_or_free(9092, random_ports)
    emulator_port = port_or_free(8888, random_ports)
    metrics_port = port_or_free(9108, random_ports)
    upstream_port = port_or_free(8081, random_ports)
    broker = KafkaBroker(port=kafka_port, partitions=3)
    say("kafka", f"starting Apache Kafka on 127.0.0.1:{kafka_port} ...")
    await asyncio.to_thread(broker.start)
    say("kafka", f"ready in {broker.startup_seconds:.1f}s")
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=3, replication_factor=1) for t in ("chat", "chat-in")]
        )
    finally:
        await admin.close()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bridge: asyncio.subprocess.Process | None = None
    client: asyncio.subprocess.Process | None = None
    try:
        upstream = UpstreamSettings.everything_to(
            f"http://127.0.0.1:{upstream_port}/upstream/{{hub}}/{{category}}/{{event}}"
        )
        async with EmulatorServer(port=emulator_port, upstream=upstream) as emulator:
            say("emulator", f"SignalR emulator: {emulator.base_url}")
            env = {
                **os.environ,
                "AzureSignalRConnectionString": emulator.connection_string,
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "SIGNALR_BRIDGE__OBSERVABILITY__PORT": str(metrics_port),
                "SIGNALR_BRIDGE__UPSTREAM__PORT": str(upstream_port),
            }
            bridge = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bridge", "run", "--config", str(REPO / "config" / "local.yaml"),
                env=env, cwd=REPO,
            )  # fmt: skip
            await wait_ready(f"http://127.0.0.1:{metrics_port}/readyz", bridge)
            say("bridge", f"running; metrics at http://127.0.0.1:{metrics_port}/metrics")
            # What an app's negotiate function hands its browser clients (`signalr-bridge token`).
            url, token = client_access(
                parse_connection_string(emulator.connection_string), "chat", user_id="demo"
            )
            payload = {"url": url, "accessToken": token, "targets": ["newMessage"]}
            client = await asyncio.create_subprocess_exec(
                node, "client.mjs", json.dumps(payload), cwd=JS_CLIENT,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            tasks = [
                asyncio.create_task(print_client(client)),
                asyncio.create_task(produce_forever(broker.bootstrap_servers, stop)),
                asyncio.create_task(invoke_forever(client, stop)),
            ]
            say("stack", "Ctrl-C stops everything")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
            stop.set()
            await asyncio.gather(*tasks[1:], return_exceptions=True)
            tasks[0].cancel()
    finally:
        if client is not None and client.returncode is None:
            client.kill()
            await client.wait()
        if bridge is not None and bridge.returncode is None:
            bridge.send_signal(signal.SIGTERM)
            await bridge.wait()
        await asyncio.to_thread(broker.stop)
        say("stack", "stopped")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    parser.add_argument("--random-ports", action="store_true", help="use free ports instead of the defaults")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.duration, args.random_ports)))
