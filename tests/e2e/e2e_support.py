"""End-to-end helpers: the bridge as a real process, Kafka producers/readers, SignalR clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
JS_DIR = REPO / "tests" / "emulator" / "js"
RS = "\x1e"
HUB = "e2e"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def dead_lettered(metrics_text: str) -> list[float]:
    """The values of every ``signalr_bridge_dead_lettered_total`` series (they start at 0)."""
    return [
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "signalr_bridge_dead_lettered_total"
    ]


class DemoOutput:
    """The demo's output, read as it comes, so the test can act on what it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait_for(self, pattern: str, count: int = 1, timeout: float = 180) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.text)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {count}x {pattern!r} in {timeout}s:\n{self.text[-4000:]}")
            line = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            if not line:
                raise AssertionError(f"the demo exited before {pattern!r}:\n{self.text[-4000:]}")
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    async def rest(self, timeout: float = 120) -> None:
        assert self.process.stdout is not None
        remaining, _ = await asyncio.wait_for(self.process.communicate(), timeout)
        self.lines += remaining.decode(errors="replace").splitlines()


@contextlib.asynccontextmanager
async def demo(*args: str) -> AsyncIterator[DemoOutput]:
    """``deploy/local/stack.py`` as ``make demo`` runs it; on exit, Ctrl-C as a terminal sends it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "deploy/local/stack.py", *args,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )  # fmt: skip
    output = DemoOutput(process)
    try:
        yield output
    finally:
        # Ctrl-C: the terminal signals the whole foreground process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        await output.rest()


class BridgeProcess:
    """``signalr-bridge run`` in a child process, as users run it."""

    def __init__(self, config_text: str, workdir: Path, env: dict[str, str], name: str = "bridge") -> None:
        self.metrics_port = free_port()
        self.config = workdir / f"{name}.yaml"
        self.config.write_text(config_text.replace("__METRICS_PORT__", str(self.metrics_port)))
        self.log = workdir / f"{name}.log"
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BridgeProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bridge", "run", "--config", str(self.config)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"bridge exited with {self.process.returncode}:\n{self.tail()}")
                try:
                    if (await http.get(self.url + "/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"bridge not ready after {timeout}s:\n{self.tail()}")

    async def metrics(self) -> str:
        async with httpx.AsyncClient() as http:
            return (await http.get(self.url + "/metrics")).text

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait_exit(self, timeout: float = 60) -> int:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"bridge did not exit in {timeout}s:\n{self.tail()}")
            await asyncio.sleep(0.1)
        return self.process.returncode

    def stop(self) -> None:
        """Graceful stop (SIGTERM), as Kubernetes does; SIGKILL if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(45)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    *,
    headers: Sequence[tuple[str, bytes]] = (),
) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2_000_000)
    await producer.start()
    count = 0
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=list(headers)) for key, value in records
        ]
        for future in futures:
            await future
            count += 1
    finally:
        await producer.stop()
    return count


def jsonb(value: Any) -> bytes:
    return json.dumps(value).encode()


async def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 60) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for part in batch.values():
                    records.extend(part)
        # Anything more than expected would be a bug too: look a little longer.
        extra = await consumer.getmany(timeout_ms=1000)
        for part in extra.values():
            records.extend(part)
    finally:
        await consumer.stop()
    return records


async def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        result = {}
        for p in range(partitions):
            offset = await consumer.committed(TopicPartition(topic, p))
            result[p] = offset if offset is not None else 0
        return result
    finally:
        await consumer.stop()


class JsClient:
    """The official @microsoft/signalr client (node), driven through tests/emulator/js/client.mjs."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.connection_id = ""
        self._held: list[dict[str, Any]] = []  # events read while waiting for a command's answer
        self._ids = 0

    @classmethod
    async def connect(
        cls, access: dict[str, str], targets: Sequence[str], protocol: str = "json"
    ) -> JsClient:
        node = shutil.which("node")
        if node is None or not (JS_DIR / "node_modules" / "@microsoft" / "signalr").is_dir():
            raise AssertionError("@microsoft/signalr is not installed: run .ci/setup.d/20-emulator-js.sh")
        process = await asyncio.create_subprocess_exec(
            node, str(JS_DIR / "client.mjs"),
            json.dumps({**access, "targets": list(targets), "protocol": protocol}),
            cwd=JS_DIR, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        client = cls(process)
        event = await client.event()
        assert event["event"] == "connected", event
        client.connection_id = event["connectionId"]
        return client

    async def event(self, timeout: float = 30) -> dict[str, Any]:
        if self._held:
            return self._held.pop(0)
        return await self._read(timeout)

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert line, "the JS client exited"
        event: dict[str, Any] = json.loads(line)
        return event

    async def command(self, timeout: float = 60, **command: Any) -> dict[str, Any]:
        """Run one client.mjs command (invoke, send, burst) and return its answer event."""
        assert self.process.stdin is not None
        self._ids += 1
        self.process.stdin.write(json.dumps({"id": self._ids, **command}).encode() + b"\n")
        await self.process.stdin.drain()
        async with asyncio.timeout(timeout):
            while True:
                event = await self._read(timeout)
                if event.get("id") == self._ids:
                    return event
                self._held.append(event)

    async def invoke(self, target: str, *arguments: Any) -> dict[str, Any]:
        return await self.command(invoke=target, arguments=list(arguments))

    async def stop(self) -> dict[str, Any]:
        """Stop the connection politely (the client sends a Close message) and wait for it to end."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"stop\n")
        await self.process.stdin.drain()
        while (event := await self.event()).get("event") != "closed":
            pass
        return event

    async def message(self, timeout: float = 30) -> tuple[str, list[Any]]:
        event = await self.event(timeout)
        assert event["event"] == "message", event
        return event["target"], event["arguments"]

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


def token_for(connection_string: str, hub: str, user: str | None = None) -> dict[str, str]:
    """What a negotiate function returns: ``signalr-bridge token`` run as users run it."""
    command = [
        sys.executable,
        "-m",
        "bridge",
        "token",
        "--connection-string",
        connection_string,
        "--hub",
        hub,
    ]
    if user:
        command += ["--user", user]
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    access: dict[str, str] = json.loads(result.stdout)
    return access


class HubListener:
    """A plain JSON-protocol client that records every invocation it receives (for counting)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[Any]]] = []
        self.connection_id = ""
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self.arrived = asyncio.Event()

    async def connect(self, access: dict[str, str]) -> HubListener:
        self._session = aiohttp.ClientSession()
        headers = {"Authorization": f"Bearer {access['accessToken']}"}
        base, _, query = access["url"].partition("?")
        negotiate = f"{base.rstrip('/')}/negotiate?{query}&negotiateVersion=1"
        async with self._session.post(negotiate, headers=headers) as response:
            body = await response.json()
        self.connection_id = body["connectionId"]
        self._ws = await self._session.ws_connect(
            f"{access['url']}&id={body['connectionToken']}", headers=headers
        )
        await self._ws.send_str(json.dumps({"protocol": "json", "version": 1}) + RS)
        handshake = await self._ws.receive(timeout=10)
        assert handshake.data == "{}" + RS, handshake
        self._reader = asyncio.create_task(self._read())
        self._pinger = asyncio.create_task(self._ping())
        return self

    async def _ping(self) -> None:
        # Like real clients: the service closes a connection that stays silent for 30 s.
        assert self._ws is not None
        while not self._ws.closed:
            await asyncio.sleep(10)
            await self._ws.send_str(json.dumps({"type": 6}) + RS)

    async def _read(self) -> None:
        assert self._ws is not None
        async for frame in self._ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            for part in str(frame.data).split(RS):
                if part:
                    message = json.loads(part)
                    if message.get("type") == 1:
                        self.messages.append((message["target"], message.get("arguments", [])))
                        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 60) -> list[tuple[str, list[Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"received {len(self.messages)} of {count} messages in {timeout}s")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 1.0))
        return self.messages

    async def close(self) -> None:
        for task in (self._reader, self._pinger):
            if task is not None:
                task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()


COUNTING = """
kafka:
  bootstrap_servers: ${{KAFKA_BOOTSTRAP_SERVERS}}
  group_id: {group}
  start_from: earliest
  session_timeout_ms: 6000
signalr:
  hub: {hub}
  retry: {{max_attempts: 3, max_elapsed_seconds: 5, base_backoff_seconds: 0.1, max_backoff_seconds: 1}}
  transport: {transport}
  persistent: {{connections: {connections}}}
dead_letter:
  topic: {dlq}
pipeline:
  max_in_flight: {in_flight}
  max_in_flight_per_partition: {in_flight}
observability:
  host: 127.0.0.1
  port: __METRICS_PORT__
shutdown:
  drain_timeout_seconds: {drain}
routes:
  - name: counted
    topics: [{topic}]
    ordering: {ordering}
    actions:
      - send:
          target: seen
          userId: "{{value.to}}"
          # value.text twice: a 600 kB text makes a body over the service's 1 MB limit.
          arguments: ["{{key}}", "{{value.seq}}", "{{partition}}", "{{offset}}",
                      "{{value.text}}", "{{value.text}}"]
"""


def counting_config(
    group: str,
    topic: str,
    dlq: str,
    *,
    ordering: str = "key",
    in_flight: int = 200,
    drain: float = 20,
    transport: str = "rest",
    connections: int = 4,
) -> str:
    return COUNTING.format(
        group=group,
        hub=HUB,
        topic=topic,
        dlq=dlq,
        ordering=ordering,
        in_flight=in_flight,
        drain=drain,
        transport=transport,
        connections=connections,
    )


def record(key: str, seq: int, *, text: str = "") -> tuple[bytes, bytes]:
    return key.encode(), jsonb({"to": "watcher", "seq": seq, "text": text})
