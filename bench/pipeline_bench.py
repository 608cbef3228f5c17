"""Kafka-to-SignalR pipeline throughput (issue #6; a benchmark, not a test: it prints, never asserts).

Compares, in one run, against the same real Kafka broker and the same loopback HTTP sink
(an aiohttp server in its own process that answers 202 to every POST and timestamps arrivals):

    bridge  ``python -m bridge run --config <generated yaml>`` (ordering: key, max_in_flight)
    naive   a faust agent that awaits one httpx POST per record (the obvious way to write it)
    plain   AIOKafkaConsumer + the bridge's HTTP stack (httpx over httpx-aiohttp), a semaphore
            of the same in-flight size, in-order offset commits every second; no key ordering,
            routing, retries policy or metrics: the upper bound for the bridge

Each consumer is a child process, on a fresh topic and consumer group per variant and phase:

    backlog  ``--records`` records are produced first, then the consumer starts; records/s from
             the first to the last arrival at the sink, end-to-end latency (arrival minus record
             timestamp, so it includes the consumer's start-up) and peak RSS (VmHWM)
    rate     the consumer is started and warmed up first, then ``--rate`` records/s are produced
             for ``--duration`` s: steady-state latency while the consumer keeps up (or not)

CPU per record is the consumer process's user+system time over the records it delivered
(the machine is shared, so wall-clock rates move with everything else running on it).
Loopback only; every phase is bounded by ``--phase-timeout``. Needs Java 17+ for the broker.

    .venv/bin/python bench/pipeline_bench.py [--records 20000] [--rate 2000] [--duration 10]
        [--sink-delay-ms 0] [--variants bridge,naive,plain] [--phases backlog,rate] [--profile]

With the sink answering at once, a sequential consumer pays no round trip, so ``naive`` is
CPU-bound like the others; ``--sink-delay-ms 20`` adds a service-like round trip (still loopback),
which is what concurrency is for.

``--profile`` runs each consumer under cProfile (slower, so its numbers are not comparable with
a normal run) and prints its hottest functions; ``--workdir`` keeps the ``.prof`` files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import pstats
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bridge.signalr.client import make_transport
from bridge.signalr.tokens import sign_access_token

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "deploy" / "local"))
from kafka_broker import KafkaBroker  # noqa: E402 - lives outside the package, on the path above

KEY = "bench-access-key-0123456789-abcdefghijklmnopq"
HUB = "bench"
USER = "bench-user"
TARGET = "seen"
SEND_PATH = f"/api/hubs/{HUB}/users/{USER}/:send"
API_QUERY = "?api-version=2022-06-01"
# The bridge's SignalRClient keeps at most this many requests (and connections) in flight per
# endpoint; the plain forwarder gets the same pool so only the pipeline around it differs.
HTTP_POOL = 128
WARMUP_RECORDS = 60
VARIANTS = ("bridge", "naive", "plain")
PHASES = ("backlog", "rate")

BRIDGE_CONFIG = """
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  start_from: earliest
signalr:
  hub: {hub}
pipeline:
  max_in_flight: {in_flight}
observability:
  host: 127.0.0.1
  port: 0
shutdown:
  drain_timeout_seconds: 10
routes:
  - name: bench
    topics: [{topic}]
    ordering: key
    actions:
      - send:
          target: {target}
          userId: "{{value.to}}"
          # seq identifies the record at the sink, timestamp (epoch ms) gives the latency.
          arguments: ["{{key}}", "{{value.seq}}", "{{timestamp}}"]
"""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """What a naive or plain consumer child needs (passed as JSON on its command line)."""

    bootstrap: str
    topic: str
    group: str
    sink: str
    in_flight: int
    naive_transport: str


def body(key: bytes | None, value: bytes, timestamp_ms: int) -> dict[str, Any]:
    """The same PayloadMessage the bridge's route renders."""
    return {
        "target": TARGET,
        "arguments": [key.decode() if key is not None else None, json.loads(value)["seq"], timestamp_ms],
    }


def auth_headers(sink: str) -> dict[str, str]:
    # Signed once: the bridge caches its token per audience too, so per-request cost is equal.
    token = sign_access_token(KEY, sink + SEND_PATH)
    return {"Authorization": f"Bearer {token}"}


# --- the sink (child process) --------------------------------------------------------------------


def sink_main(delay_ms: float) -> None:
    arrivals: list[float] = []
    latencies: list[float] = []
    seen: set[int] = set()
    counters = {"warm": 0, "bad": 0}

    async def on_post(request: web.Request) -> web.Response:
        raw = await request.read()
        now_ms = time.time() * 1000  # record timestamps are the producer's wall clock, same host
        try:
            arguments = json.loads(raw)["arguments"]
            seq, timestamp_ms = int(arguments[1]), float(arguments[2])
        except (ValueError, KeyError, IndexError, TypeError):
            counters["bad"] += 1
            return web.Response(status=202)
        if seq < 0:
            counters["warm"] += 1
        else:
            arrivals.append(now_ms)
            latencies.append(now_ms - timestamp_ms)
            seen.add(seq)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)  # the service's round trip, arrival already noted
        return web.Response(status=202)

    async def on_stats(request: web.Request) -> web.Response:
        stats: dict[str, Any] = {"count": len(arrivals), "unique": len(seen), **counters}
        if request.query.get("full") and arrivals:
            ordered = sorted(latencies)
            stats.update(
                first_ms=min(arrivals),
                last_ms=max(arrivals),
                p50_ms=_percentile(ordered, 0.50),
                p99_ms=_percentile(ordered, 0.99),
                max_ms=ordered[-1],
            )
        return web.json_response(stats)

    async def on_reset(request: web.Request) -> web.Response:
        arrivals.clear()
        latencies.clear()
        seen.clear()
        counters.update(warm=0, bad=0)
        return web.json_response({})

    async def on_other(request: web.Request) -> web.Response:
        return web.Response(status=200)  # the bridge's HEAD /api/health probe

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/_bench/stats", on_stats)
        app.router.add_get("/_bench/reset", on_reset)
        app.router.add_post("/{tail:.*}", on_post)
        app.router.add_route("*", "/{tail:.*}", on_other)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# --- (a) the naive faust agent (child process) ---------------------------------------------------


def naive_main(spec: ChildSpec) -> None:
    import faust  # noqa: PLC0415 - slow to import; only this child needs it

    # faust wants a data directory even with an in-memory store.
    with tempfile.TemporaryDirectory(prefix="bench-naive-faust-") as datadir:
        app = faust.App(
            spec.group,
            broker=f"kafka://{spec.bootstrap}",
            consumer_auto_offset_reset="earliest",
            web_enabled=False,
            store="memory://",
            topic_disable_leader=True,  # no leader topic to create; does not change the agent
            datadir=datadir,
        )
        topic = app.topic(
            spec.topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )
        url = spec.sink + SEND_PATH + API_QUERY
        headers = auth_headers(spec.sink)

        @app.agent(topic)
        async def forward(stream: Any) -> None:
            # Created here because it must belong to faust's event loop.
            if spec.naive_transport == "aiohttp":
                limits = httpx.Limits(max_connections=HTTP_POOL, max_keepalive_connections=HTTP_POOL)
                client = httpx.AsyncClient(transport=make_transport("aiohttp", limits))
            else:
                client = httpx.AsyncClient()
            async with client:
                async for event in stream.events():
                    message = event.message
                    response = await client.post(
                        url,
                        json=body(message.key, message.value, int(message.timestamp * 1000)),
                        headers=headers,
                    )
                    response.raise_for_status()

        faust.Worker(app, loglevel="WARNING").execute_from_commandline()


# --- (b) the plain aiokafka forwarder (child process) --------------------------------------------


@dataclass(slots=True)
class _Pending:
    offset: int
    done: bool = False


async def plain_main(spec: ChildSpec) -> None:
    consumer = AIOKafkaConsumer(
        spec.topic,
        bootstrap_servers=spec.bootstrap,
        group_id=spec.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    limits = httpx.Limits(max_connections=HTTP_POOL, max_keepalive_connections=HTTP_POOL)
    http = httpx.AsyncClient(
        transport=make_transport("aiohttp", limits), timeout=httpx.Timeout(30.0, connect=5.0)
    )
    url = spec.sink + SEND_PATH + API_QUERY
    headers = {**auth_headers(spec.sink), "Content-Type": "application/json"}
    slots = asyncio.Semaphore(spec.in_flight)
    # Per partition, records in offset order: a commit never passes an unfinished record.
    pending: dict[TopicPartition, deque[_Pending]] = {}
    tasks: set[asyncio.Task[None]] = set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def forward(key: bytes | None, value: bytes, timestamp_ms: int, entry: _Pending) -> None:
        content = json.dumps(body(key, value, timestamp_ms), separators=(",", ":")).encode()
        try:
            for attempt in range(3):
                with contextlib.suppress(httpx.HTTPError):
                    response = await http.post(url, content=content, headers=headers)
                    if response.status_code < 300:
                        return
                await asyncio.sleep(0.1 * 2**attempt)
        finally:
            entry.done = True
            slots.release()

    done_upto: dict[TopicPartition, int] = {}  # next offset to commit; kept if a commit fails

    def committable() -> dict[TopicPartition, int]:
        for tp, queue in pending.items():
            while queue and queue[0].done:
                done_upto[tp] = queue.popleft().offset + 1
        return dict(done_upto)

    async def commit() -> None:
        offsets = committable()
        if offsets:
            try:
                await consumer.commit(offsets)
            except Exception as exc:  # a failed commit means redelivery, not a crash
                print(f"commit failed: {exc!r}", file=sys.stderr)

    async def committer() -> None:
        while True:
            await asyncio.sleep(1.0)
            await commit()

    await consumer.start()
    commits = asyncio.create_task(committer())
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for tp, messages in batches.items():
                queue = pending.setdefault(tp, deque())
                for message in messages:
                    await slots.acquire()  # the backpressure: stop reading while full
                    entry = _Pending(message.offset)
                    queue.append(entry)
                    task = asyncio.create_task(forward(message.key, message.value, message.timestamp, entry))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
    finally:
        commits.cancel()
        if tasks:
            await asyncio.wait(set(tasks), timeout=10)
        await commit()
        await consumer.stop()
        await http.aclose()


# --- the orchestrator -----------------------------------------------------------------------------


@dataclass(slots=True)
class PhaseResult:
    variant: str
    phase: str
    expected: int
    delivered: int = 0
    unique: int = 0
    seconds: float = 0.0
    rate: float = 0.0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    peak_rss_mb: float = math.nan
    cpu_us: float = math.nan
    first_s: float = math.nan  # first arrival after the consumer process started (backlog)
    note: str = ""

    @property
    def complete(self) -> bool:
        return self.unique >= self.expected


class Child:
    """A child process with its output in a log file; VmHWM and CPU time read from /proc."""

    def __init__(
        self, name: str, command: list[str], workdir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.command = command
        self.log = workdir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, stdout: int | None = None) -> Child:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                stdout=stdout if stdout is not None else log,
                stderr=log,
                env=self.env,
                cwd=REPO,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return math.nan

    def cpu_seconds(self) -> float:
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        stat = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self, grace: float = 20.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Sink:
    def __init__(self, workdir: Path, delay_ms: float) -> None:
        command = [sys.executable, __file__, "--child", "sink", "--sink-delay-ms", str(delay_ms)]
        self.child = Child("sink", command, workdir)
        self.url = ""
        self.http = httpx.AsyncClient(timeout=10)

    async def start(self) -> None:
        await self.child.start(stdout=asyncio.subprocess.PIPE)
        assert self.child.process is not None
        assert self.child.process.stdout is not None
        line = await asyncio.wait_for(self.child.process.stdout.readline(), 30)
        if not line:
            raise RuntimeError(f"the sink did not start:\n{self.child.tail()}")
        self.url = f"http://127.0.0.1:{int(line)}"

    async def stats(self, *, full: bool = False) -> dict[str, Any]:
        response = await self.http.get(self.url + "/_bench/stats", params={"full": "1"} if full else {})
        stats: dict[str, Any] = response.json()
        return stats

    async def reset(self) -> None:
        await self.http.get(self.url + "/_bench/reset")

    async def close(self) -> None:
        await self.http.aclose()
        await self.child.stop(grace=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


def record(seq: int, keys: int) -> tuple[bytes, bytes]:
    return f"key-{seq % keys}".encode(), json.dumps({"to": USER, "seq": seq}).encode()


async def produce_backlog(bootstrap: str, topic: str, count: int, keys: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for seq in range(count):
            key, value = record(seq, keys)
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_at_rate(
    producer: AIOKafkaProducer, topic: str, rate: float, duration: float, keys: int
) -> int:
    """Sends ``rate`` records/s on an absolute schedule (a slow tick catches up, never drifts)."""
    total = int(rate * duration)
    futures = []
    started = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - started) * rate) + 1)
        while sent < due:
            key, value = record(sent, keys)
            futures.append(await producer.send(topic, value, key=key))
            sent += 1
        await asyncio.sleep(0.005)
    await asyncio.gather(*futures)
    return total


def consumer_child(variant: str, args: argparse.Namespace, spec: ChildSpec, workdir: Path) -> Child:
    name = f"{variant}-{spec.topic}"
    env: dict[str, str] = {}
    if variant == "bridge":
        config = workdir / f"{name}.yaml"
        config.write_text(
            BRIDGE_CONFIG.format(
                bootstrap=spec.bootstrap,
                group=spec.group,
                hub=HUB,
                in_flight=spec.in_flight,
                topic=spec.topic,
                target=TARGET,
            )
        )
        command = ["-m", "bridge", "run", "--config", str(config)]
        port = spec.sink.rsplit(":", 1)[1]
        env["AzureSignalRConnectionString"] = (
            f"Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY};Version=1.0;"
        )
    else:
        command = [__file__, "--child", variant, "--spec", json.dumps(asdict(spec))]
    if args.profile:
        # cProfile writes on a normal exit, which SIGTERM gives every variant (they drain and stop).
        command = ["-m", "cProfile", "-o", str(workdir / f"{name}.prof"), *command]
    return Child(name, [sys.executable, *command], workdir, env)


async def wait_for(
    sink: Sink, child: Child, field: str, count: int, *, within: float, on_first: list[float] | None = None
) -> None:
    """Poll the sink until ``field`` reaches ``count`` (or ``within`` s pass, or the child dies).

    ``on_first`` gets the child's CPU time and the sink count at the first arrival seen, so
    CPU per record leaves out the start-up (imports, group join).
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and child.running():
        stats = await sink.stats()
        if on_first is not None and not on_first and stats["count"]:
            on_first.extend((child.cpu_seconds(), float(stats["count"])))
        if stats[field] >= count:
            return
        await asyncio.sleep(0.1)


async def run_phase(
    variant: str, phase: str, *, args: argparse.Namespace, bootstrap: str, sink: Sink, workdir: Path
) -> PhaseResult:
    suffix = uuid.uuid4().hex[:8]
    spec = ChildSpec(
        bootstrap=bootstrap,
        topic=f"bench-{variant}-{phase}-{suffix}",
        group=f"bench-{variant}-{phase}-{suffix}",
        sink=sink.url,
        in_flight=args.in_flight,
        naive_transport=args.naive_transport,
    )
    expected = args.records if phase == "backlog" else int(args.rate * args.duration)
    result = PhaseResult(variant, phase, expected)
    await create_topic(bootstrap, spec.topic, args.partitions)
    await sink.reset()
    child = consumer_child(variant, args, spec, workdir)
    first: list[float] = []
    started = math.nan
    try:
        if phase == "backlog":
            await produce_backlog(bootstrap, spec.topic, args.records, args.keys)
            started = time.time()
            await child.start()
            await wait_for(sink, child, "unique", expected, within=args.phase_timeout, on_first=first)
            cpu_end = child.cpu_seconds()
        else:
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
            await producer.start()
            try:
                await child.start()
                # Warm-up records (negative seq, not measured) prove the consumer owns every partition.
                for seq in range(-WARMUP_RECORDS, 0):
                    key, value = f"warm-{seq}".encode(), json.dumps({"to": USER, "seq": seq}).encode()
                    await producer.send_and_wait(spec.topic, value, key=key)
                await wait_for(sink, child, "warm", WARMUP_RECORDS, within=90)
                if not child.running():
                    raise RuntimeError("consumer exited during warm-up")
                first = [child.cpu_seconds(), 0.0]
                await produce_at_rate(producer, spec.topic, args.rate, args.duration, args.keys)
            finally:
                await producer.stop()
            await wait_for(sink, child, "unique", expected, within=args.phase_timeout)
            cpu_end = child.cpu_seconds()
        if child.running():
            result.peak_rss_mb = child.peak_rss_mb()
        else:
            result.note = f"consumer exited ({child.process.returncode if child.process else '?'})"
    finally:
        await child.stop()
    stats = await sink.stats(full=True)
    result.delivered, result.unique = stats["count"], stats["unique"]
    if stats["count"] > 1:
        result.seconds = (stats["last_ms"] - stats["first_ms"]) / 1000
        result.rate = (stats["count"] - 1) / result.seconds if result.seconds > 0 else math.nan
        result.p50_ms, result.p99_ms, result.max_ms = stats["p50_ms"], stats["p99_ms"], stats["max_ms"]
        if phase == "backlog":
            result.first_s = stats["first_ms"] / 1000 - started
    if first and result.delivered > first[1]:
        result.cpu_us = (cpu_end - first[0]) / (result.delivered - first[1]) * 1e6
    if phase == "rate" and result.rate < 0.9 * args.rate:
        result.note = "fell behind the producer"
    if not result.complete:
        result.note = (result.note + " " if result.note else "") + f"INCOMPLETE {result.unique}/{expected}"
        print(f"  {variant}/{phase} log tail:\n{child.tail(15)}", file=sys.stderr)
    if args.profile:
        print_profile(workdir / f"{child.name}.prof")
    return result


def print_profile(path: Path) -> None:
    if not path.exists():
        print(f"  (no profile at {path})")
        return
    print(f"\n  cProfile of {path.name}, top functions by own (wall-clock) time:")
    pstats.Stats(str(path), stream=sys.stdout).sort_stats("tottime").print_stats(25)


def print_results(results: list[PhaseResult], args: argparse.Namespace) -> None:
    header = (
        f"{'variant':<8} {'phase':<8} {'delivered':>10} {'rec/s':>9} {'p50 ms':>9} {'p99 ms':>9} "
        f"{'max ms':>9} {'CPU us/rec':>10} {'peak RSS MB':>11} {'1st after s':>11}  note"
    )
    print(f"\n{header}\n{'-' * len(header)}")
    for r in results:
        print(
            f"{r.variant:<8} {r.phase:<8} {r.delivered:>10} {r.rate:>9.0f} {r.p50_ms:>9.0f} {r.p99_ms:>9.0f} "
            f"{r.max_ms:>9.0f} {r.cpu_us:>10.0f} {r.peak_rss_mb:>11.1f} {r.first_s:>11.1f}  {r.note}"
        )
    by = {(r.variant, r.phase): r for r in results}
    bridge = by.get(("bridge", "backlog"))
    if bridge is None:
        return
    print("\nratios (backlog records/s; the issue's aim: bridge >= 10x naive and >= 90% of plain):")
    aims = {"naive": 10.0, "plain": 0.9}
    for other, aim in aims.items():
        base = by.get((other, "backlog"))
        if base is None or not base.rate or math.isnan(base.rate):
            continue
        ratio = bridge.rate / base.rate
        verdict = "met" if ratio >= aim else "NOT met"
        print(f"  bridge/{other:<6} {ratio:6.2f}x   (aim {aim:g}x: {verdict})")
        if not math.isnan(base.cpu_us) and not math.isnan(bridge.cpu_us):
            print(f"    CPU per record bridge/{other}: {bridge.cpu_us / base.cpu_us:.2f}x")
    steady = by.get(("bridge", "rate"))
    for other in aims:
        base = by.get((other, "rate"))
        if steady is not None and base is not None and base.p99_ms > 0:
            print(
                f"  steady p99 latency at {args.rate:g} rec/s: bridge {steady.p99_ms:.0f} ms, "
                f"{other} {base.p99_ms:.0f} ms"
            )


async def bench(args: argparse.Namespace, bootstrap: str, workdir: Path) -> list[PhaseResult]:
    sink = Sink(workdir, args.sink_delay_ms)
    await sink.start()
    results: list[PhaseResult] = []
    try:
        for phase in args.phases:
            for variant in args.variants:
                began = time.monotonic()
                result = await run_phase(
                    variant, phase, args=args, bootstrap=bootstrap, sink=sink, workdir=workdir
                )
                results.append(result)
                print(
                    f"  {variant:<7} {phase:<8} {result.delivered:>6} delivered, {result.rate:7.0f} rec/s, "
                    f"p99 {result.p99_ms:7.0f} ms ({time.monotonic() - began:.0f}s) {result.note}",
                    flush=True,
                )
    finally:
        await sink.close()
    return results


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000, help="backlog records per variant")
    parser.add_argument("--rate", type=float, default=2000, help="records/s in the steady-state phase")
    parser.add_argument("--duration", type=float, default=10, help="seconds of steady-state production")
    parser.add_argument(
        "--sink-delay-ms",
        type=float,
        default=0,
        help="the sink answers after this long, like a real service's round trip (default: at once)",
    )
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--keys", type=int, default=1000, help="distinct record keys (ordering lanes)")
    parser.add_argument("--in-flight", type=int, default=1000, help="bridge max_in_flight = plain's bound")
    parser.add_argument("--phase-timeout", type=float, default=120, help="most seconds to wait per phase")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset")
    parser.add_argument(
        "--naive-transport",
        choices=("httpx", "aiohttp"),
        default="httpx",
        help="naive agent's httpx transport: httpx's own (what a user gets) or httpx-aiohttp",
    )
    parser.add_argument("--profile", action="store_true", help="run each consumer under cProfile")
    parser.add_argument(
        "--workdir", type=Path, help="keep configs, logs and profiles here (default: a temp dir)"
    )
    parser.add_argument("--child", choices=("sink", "naive", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    args.phases = [p for p in args.phases.split(",") if p]
    if not set(args.variants) <= set(VARIANTS) or not set(args.phases) <= set(PHASES):
        parser.error(f"variants are {VARIANTS}, phases are {PHASES}")
    return args


def main() -> None:
    args = parse_args()
    if args.child == "sink":
        sink_main(args.sink_delay_ms)
        return
    if args.child is not None:
        spec = ChildSpec(**json.loads(args.spec))
        if args.child == "naive":
            naive_main(spec)
        else:
            asyncio.run(plain_main(spec))
        return
    print(
        f"pipeline bench: {args.records} backlog records, {args.rate:g} rec/s x {args.duration:g}s steady, "
        f"{args.partitions} partitions, {args.keys} keys, in-flight {args.in_flight}, "
        f"sink delay {args.sink_delay_ms:g} ms, {os.cpu_count()} CPUs",
        flush=True,
    )
    # Producing to a topic created a moment ago logs NotLeaderForPartition retries: harmless.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    broker = KafkaBroker(partitions=args.partitions)
    broker.start()
    print(f"  kafka {broker.bootstrap_servers} up in {broker.startup_seconds:.1f}s", flush=True)
    try:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=True)
            results = asyncio.run(bench(args, broker.bootstrap_servers, args.workdir.resolve()))
        else:
            with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as workdir:
                results = asyncio.run(bench(args, broker.bootstrap_servers, Path(workdir)))
    finally:
        broker.stop()
    print_results(results, args)


if __name__ == "__main__":
    main()
