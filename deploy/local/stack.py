"""The local demo stack: Kafka, the SignalR emulator, the bridge, a producer, a live client and a chat page.

    make demo                      # or: .venv/bin/python deploy/local/stack.py

Starts a real Kafka broker (KRaft, from Maven jars), the SignalR emulator, the bridge with
``config/local.yaml``, the official JavaScript SignalR client (which prints what it receives),
a browser chat page with its negotiate function, and, once the client is connected, a
producer that writes a chat message to topic ``chat`` every second. Every few seconds the
client sends one itself: ``invoke("send", text)`` -> the emulator's upstream call -> the
bridge -> topic ``chat-in`` -> the bridge -> every client (a round trip with no app server).
It prints the emulator's connection string, the URLs to open and the commands to try.
Ctrl-C stops everything: the bridge gets one SIGTERM and drains what is in flight before
the rest stops.

The documented ports are kept when they are free; a busy one is replaced by a free port, and
the demo says so. ``--random-ports`` takes free ports for everything and ``--duration S``
stops by itself after S seconds (both for tests).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shlex
import shutil
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from demo_web import DemoWeb
from kafka_broker import KafkaBroker

from bridge.emulator import EmulatorServer, UpstreamSettings
from bridge.signalr.connection_string import parse_connection_string
from bridge.signalr.tokens import client_access

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "local.yaml"
JS_CLIENT = REPO / "tests" / "emulator" / "js"
NAMES = ["ann", "bob", "chen", "dana", "emil"]
TOPIC, INBOUND_TOPIC, DEAD_LETTER_TOPIC, HUB = "chat", "chat-in", "chat.dlq", "chat"
# The ports README.md and config/local.yaml document; each is kept when it is free.
DEFAULT_PORTS = {"kafka": 9092, "emulator": 8888, "metrics": 9108, "upstream": 8081, "web": 8080}
WHAT = {
    "kafka": "Kafka",
    "emulator": "the SignalR emulator",
    "metrics": "the bridge's page",
    "upstream": "the bridge's upstream receiver",
    "web": "the chat page",
}
BRIDGE_STOP_SECONDS = 60  # the drain deadline in config/local.yaml is 5 s; this is the backstop


def say(who: str, text: str) -> None:
    print(f"[{who:>8}] {text}", flush=True)


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR as the servers bind: a port whose old connections linger in TIME_WAIT after a
    # restart is free to them, and must look free here too.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def choose_ports(wanted: dict[str, int], random_ports: bool) -> dict[str, int]:
    """Each component's port: the wanted one when free (said aloud when it is not), else a free one."""
    chosen: dict[str, int] = {}
    for name, port in wanted.items():
        if random_ports:
            chosen[name] = free_port()
        elif port_is_free(port):
            chosen[name] = port
        else:
            chosen[name] = free_port()
            say("stack", f"port {port} is busy: {WHAT[name]} uses port {chosen[name]} instead")
    return chosen


@dataclass
class Stack:
    """What runs, so that it can be stopped in order; every step adds what it started."""

    ports: dict[str, int]
    broker: KafkaBroker | None = None
    emulator: EmulatorServer | None = None
    bridge: asyncio.subprocess.Process | None = None
    client: asyncio.subprocess.Process | None = None
    web: DemoWeb | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    client_connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.ports['kafka']}"


async def start_kafka(stack: Stack) -> None:
    stack.broker = KafkaBroker(port=stack.ports["kafka"], partitions=3)
    say("kafka", f"starting Apache Kafka on {stack.bootstrap_servers} ...")
    await asyncio.to_thread(stack.broker.start)
    say("kafka", f"ready in {stack.broker.startup_seconds:.1f}s")
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap_servers)
    await admin.start()
    try:
        names = (TOPIC, INBOUND_TOPIC, DEAD_LETTER_TOPIC)
        topics = [NewTopic(name, num_partitions=3, replication_factor=1) for name in names]
        await admin.create_topics(topics)
    finally:
        await admin.close()


async def start_emulator(stack: Stack) -> str:
    # The service calls the bridge's upstream receiver with what clients send (the round trip).
    upstream = UpstreamSettings.everything_to(
        f"http://127.0.0.1:{stack.ports['upstream']}/upstream/{{hub}}/{{category}}/{{event}}"
    )
    stack.emulator = EmulatorServer(port=stack.ports["emulator"], upstream=upstream)
    await stack.emulator.start()
    connection_string = stack.emulator.connection_string
    say("emulator", f"SignalR emulator at {stack.emulator.base_url}; its connection string:")
    say("emulator", connection_string)
    return connection_string


async def start_bridge(stack: Stack, connection_string: str) -> None:
    env = {
        **os.environ,
        "AzureSignalRConnectionString": connection_string,
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
        "SIGNALR_BRIDGE__OBSERVABILITY__PORT": str(stack.ports["metrics"]),
        "SIGNALR_BRIDGE__UPSTREAM__PORT": str(stack.ports["upstream"]),
    }
    # Its own session: a Ctrl-C in the terminal reaches only this script, which then sends the
    # bridge exactly one SIGTERM, so its graceful drain is what you see.
    stack.bridge = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "run", "--config", str(CONFIG),
        env=env, cwd=REPO, start_new_session=True,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    stack.tasks.append(asyncio.create_task(_relay(stack.bridge, "bridge")))
    await _wait_ready(f"http://127.0.0.1:{stack.ports['metrics']}/readyz", stack.bridge)
    say("bridge", f"ready: consuming {TOPIC} and {INBOUND_TOPIC}, dead letters to {DEAD_LETTER_TOPIC}")


async def _relay(process: asyncio.subprocess.Process, who: str) -> None:
    assert process.stdout is not None
    async for line in process.stdout:
        say(who, line.decode(errors="replace").rstrip())


async def _wait_ready(url: str, process: asyncio.subprocess.Process, within: float = 120) -> None:
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


async def start_client(stack: Stack, connection_string: str) -> None:
    node = shutil.which("node")
    assert node is not None
    # What an app's negotiate function hands its clients (`signalr-bridge token`).
    url, token = client_access(parse_connection_string(connection_string), HUB, user_id="demo")
    payload = {"url": url, "accessToken": token, "targets": ["newMessage"]}
    stack.client = await asyncio.create_subprocess_exec(
        node, "client.mjs", json.dumps(payload), cwd=JS_CLIENT, start_new_session=True,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stack.tasks.append(asyncio.create_task(_print_client(stack)))
    await asyncio.wait_for(stack.client_connected.wait(), 60)


async def _print_client(stack: Stack) -> None:
    assert stack.client is not None
    assert stack.client.stdout is not None
    async for line in stack.client.stdout:
        event = json.loads(line)
        if event["event"] == "connected":
            say("client", f"connected to hub '{HUB}' as user 'demo' ({event['connectionId']})")
            stack.client_connected.set()
        elif event["event"] == "message":
            say("client", f"received {event['target']}: {', '.join(map(str, event['arguments']))}")
        elif event["event"] != "result":  # an invoke() the bridge confirmed: its message follows
            say("client", json.dumps(event))


async def invoke_forever(stack: Stack, stop: asyncio.Event) -> None:
    """The client speaks too: invoke("send", text) goes upstream, into Kafka, and back to everyone."""
    assert stack.client is not None
    assert stack.client.stdin is not None
    n = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 3.0)
        if stop.is_set():
            return
        n += 1
        text = f"hello from the client #{n}"
        say("client", f"invoke send: {text}")
        stack.client.stdin.write(
            json.dumps({"id": n, "invoke": "send", "arguments": [text]}).encode() + b"\n"
        )
        await stack.client.stdin.drain()


async def start_web(stack: Stack, connection_string: str) -> None:
    stack.web = DemoWeb(connection_string, hub=HUB, port=stack.ports["web"])
    await stack.web.start()


async def produce_forever(bootstrap: str, stop: asyncio.Event) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        n = 0
        while not stop.is_set():
            n += 1
            user = random.choice(NAMES)
            message = {"user": user, "text": f"hello #{n}"}
            await producer.send_and_wait(TOPIC, json.dumps(message).encode(), key=user.encode())
            say("producer", f"{TOPIC} <- {json.dumps(message)}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await producer.stop()


def print_guide(stack: Stack, connection_string: str, started: float) -> None:
    assert stack.web is not None
    cli = ".venv/bin/signalr-bridge"
    config = CONFIG.relative_to(REPO)
    lines = [
        f"ready in {time.monotonic() - started:.0f}s. Open in a browser:",
        f"  the chat page:           {stack.web.url}",
        f"  the bridge's live page:  http://127.0.0.1:{stack.ports['metrics']}/",
        "Try, in another terminal (in this directory):",
    ]
    if stack.ports["kafka"] != DEFAULT_PORTS["kafka"]:
        lines.append(f"  export KAFKA_BOOTSTRAP_SERVERS={stack.bootstrap_servers}")
    lines += [
        f"  export AzureSignalRConnectionString={shlex.quote(connection_string)}",
        f'  {cli} produce --config {config} --topic {TOPIC} --value \'{{"user": "you", "text": "hi"}}\'',
        f"  {cli} produce --config {config} --topic {TOPIC} --value 'not json'",
        f"  {cli} dlq show --config {config}",
        "Ctrl-C stops everything; the bridge drains first.",
    ]
    for line in lines:
        say("stack", line)


async def stop_stack(stack: Stack) -> None:
    """Stop in order: the bridge first (one SIGTERM: it drains and commits), Kafka last."""
    if stack.bridge is not None and stack.bridge.returncode is None:
        say("stack", "stopping the bridge with one SIGTERM: it drains what is in flight, commits, exits")
        stack.bridge.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(stack.bridge.wait(), BRIDGE_STOP_SECONDS)
        except TimeoutError:
            stack.bridge.kill()
            code = await stack.bridge.wait()
        say("stack", f"the bridge exited with code {code}")
    if stack.client is not None and stack.client.returncode is None:
        stack.client.kill()
        await stack.client.wait()
    for task in stack.tasks:
        task.cancel()
    await asyncio.gather(*stack.tasks, return_exceptions=True)
    for stop in _stoppers(stack):
        with contextlib.suppress(Exception):
            await stop()


def _stoppers(stack: Stack) -> list[Callable[[], Awaitable[None]]]:
    stoppers: list[Callable[[], Awaitable[None]]] = []
    if stack.web is not None:
        stoppers.append(stack.web.stop)
    if stack.emulator is not None:
        stoppers.append(stack.emulator.stop)
    if stack.broker is not None:
        broker = stack.broker
        stoppers.append(lambda: asyncio.to_thread(broker.stop))
    return stoppers


async def main(duration: float | None, wanted: dict[str, int], random_ports: bool) -> int:
    if shutil.which("node") is None or not (JS_CLIENT / "node_modules").is_dir():
        print("the demo client needs Node.js and `make setup` (npm packages)", file=sys.stderr)
        return 2
    started = time.monotonic()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stack = Stack(choose_ports(wanted, random_ports))
    try:
        await start_kafka(stack)
        connection_string = await start_emulator(stack)
        await start_bridge(stack, connection_string)
        await start_web(stack, connection_string)
        await start_client(stack, connection_string)
        print_guide(stack, connection_string, started)
        talk = [
            asyncio.create_task(produce_forever(stack.bootstrap_servers, stop)),
            asyncio.create_task(invoke_forever(stack, stop)),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
        stop.set()
        await asyncio.gather(*talk)
    finally:
        await stop_stack(stack)
        say("stack", "stopped")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    parser.add_argument("--random-ports", action="store_true", help="use free ports instead of the defaults")
    for name, port in DEFAULT_PORTS.items():
        parser.add_argument(
            f"--{name}-port", type=int, default=port, help=f"port of {WHAT[name]} (default {port})"
        )
    args = parser.parse_args()
    ports = {name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS}
    sys.exit(asyncio.run(main(args.duration, ports, args.random_ports)))
