"""REST against persistent delivery, same run (issue #13; a benchmark, not a test: it prints, never asserts).

Against one real Kafka broker and one compiled loopback sink (``bench/sink``, Go, built here with the
local toolchain: it answers REST with 202 and speaks just enough of the service protocol for
server connections: handshake, acks for barriers and ``...WithAck`` messages, pings), each round
runs the bridge (``python -m bridge run``) once per transport, interleaved, on fresh topics:

    backlog  ``--records`` records over ``--keys`` keys are produced first, then the bridge starts;
             records/s from the first to the last arrival at the sink, and the bridge process's own
             CPU time per record (user+system from /proc/<pid>/stat, from the first arrival on)
    rate     the bridge is started and warmed up, then ``--rate`` records/s are produced for
             ``--duration`` s: end-to-end latency (sink arrival minus record timestamp), p50/p99

Rounds are interleaved (rest, persistent, rest, persistent, ...) so both see the same machine; the
table gives min/median/max over rounds and the load average. Loopback only, bounded per phase.

    .venv/bin/python bench/transport_bench.py [--rounds 3] [--records 20000] [--keys 1000]
        [--rate 1000] [--duration 10] [--connections 4] [--py-spy PATH/TO/py-spy]

``--py-spy`` samples the persistent bridge during round 1's backlog (folded stacks, also summarized
as the functions with the most samples, own and inclusive); install py-spy into its own venv so
the bridge's environment stays as it is: ``python -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install
py-spy``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_bench import (
    HUB,
    KEY,
    REPO,
    TARGET,
    WARMUP_RECORDS,
    Child,
    KafkaBroker,
    Sink,
    create_topic,
    produce_at_rate,
    produce_backlog,
    wait_for,
)

SINK_SOURCE = Path(__file__).resolve().parent / "sink"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "signalr-bridge" / "bench"
TRANSPORTS = ("rest", "persistent")

BRIDGE_CONFIG = """
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  start_from: earliest
signalr:
  hub: {hub}
  transport: {transport}
  persistent: {{connections: {connections}}}
pipeline:
  max_in_flight: {in_flight}
observability:
  host: 127.0.0.1
  port: 0
  log_level: WARNING
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
          arguments: ["{{key}}", "{{value.seq}}", "{{timestamp}}"]
"""


class GoSink(Sink):
    """The compiled sink (same stats API as pipeline_bench's Python sink)."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        super().__init__(workdir, 0)
        self.child = Child("go-sink", [str(binary)], workdir)


def build_sink() -> Path:
    """``go build`` the sink into the cache, once per source version."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(SINK_SOURCE.glob("*")))).hexdigest()[:16]
    binary = CACHE / f"sink-{digest}"
    if not binary.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        subprocess.run([go, "build", "-o", str(binary), "."], cwd=SINK_SOURCE, check=True, env=env)
    return binary


@dataclass(slots=True)
class Result:
    transport: str
    phase: str
    round: int
    delivered: int = 0
    rate: float = math.nan
    cpu_us: float = math.nan
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    load: float = math.nan
    note: str = ""


def bridge_child(transport: str, args: argparse.Namespace, sink: Sink, workdir: Path, topic: str) -> Child:
    name = f"bridge-{transport}-{topic}"
    config = workdir / f"{name}.yaml"
    config.write_text(
        BRIDGE_CONFIG.format(
            bootstrap=args.bootstrap,
            group=topic,
            hub=HUB,
            transport=transport,
            connections=args.connections,
            in_flight=args.in_flight,
            topic=topic,
            target=TARGET,
        )
    )
    port = sink.url.rsplit(":", 1)[1]
    env = {
        "AzureSignalRConnectionString": f"Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY};Version=1.0;"
    }
    command = [sys.executable, "-m", "bridge", "run", "--config", str(config)]
    return Child(name, command, workdir, env)


async def backlog(transport: str, round_: int, args: argparse.Namespace, sink: Sink, workdir: Path) -> Result:
    result = Result(transport, "backlog", round_, load=os.getloadavg()[0])
    topic = f"bench-{transport}-backlog-{uuid.uuid4().hex[:8]}"
    await create_topic(args.bootstrap, topic, args.partitions)
    await produce_backlog(args.bootstrap, topic, args.records, args.keys)
    await sink.reset()
    child = bridge_child(transport, args, sink, workdir, topic)
    first: list[float] = []
    spy: asyncio.subprocess.Process | None = None
    try:
        await child.start()
        if args.py_spy and transport == "persistent" and round_ == 0:
            out = workdir / "persistent-backlog.folded"
            spy = await asyncio.create_subprocess_exec(
                args.py_spy, "record", "--pid", str(child.pid), "--format", "raw", "-o", str(out),
                "--rate", "200", "--nonblocking",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            print(f"  py-spy -> {out}", flush=True)
        await wait_for(sink, child, "unique", args.records, within=args.phase_timeout, on_first=first)
        cpu_end = child.cpu_seconds()
    finally:
        await child.stop()
        if spy is not None:
            await asyncio.wait_for(spy.wait(), 30)
            summarize_profile(workdir / "persistent-backlog.folded")
    stats = await sink.stats(full=True)
    result.delivered = stats["unique"]
    if stats["count"] > 1:
        result.rate = (stats["count"] - 1) / ((stats["last_ms"] - stats["first_ms"]) / 1000)
    if first and stats["count"] > first[1]:
        result.cpu_us = (cpu_end - first[0]) / (stats["count"] - first[1]) * 1e6
    if result.delivered < args.records:
        result.note = f"INCOMPLETE {result.delivered}/{args.records}"
        print(child.tail(15), file=sys.stderr)
    return result


async def steady(transport: str, round_: int, args: argparse.Namespace, sink: Sink, workdir: Path) -> Result:
    result = Result(transport, "rate", round_, load=os.getloadavg()[0])
    topic = f"bench-{transport}-rate-{uuid.uuid4().hex[:8]}"
    await create_topic(args.bootstrap, topic, args.partitions)
    await sink.reset()
    child = bridge_child(transport, args, sink, workdir, topic)
    expected = int(args.rate * args.duration)
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=2)
    await producer.start()
    try:
        await child.start()
        for seq in range(-WARMUP_RECORDS, 0):
            value = f'{{"to": "bench-user", "seq": {seq}}}'.encode()
            await producer.send_and_wait(topic, value, key=f"warm-{seq}".encode())
        await wait_for(sink, child, "warm", WARMUP_RECORDS, within=90)
        cpu_start = child.cpu_seconds()
        await produce_at_rate(producer, topic, args.rate, args.duration, args.keys)
        await wait_for(sink, child, "unique", expected, within=args.phase_timeout)
        cpu_end = child.cpu_seconds()
    finally:
        await producer.stop()
        await child.stop()
    stats = await sink.stats(full=True)
    result.delivered = stats["unique"]
    if stats["count"]:
        result.p50_ms, result.p99_ms = stats["p50_ms"], stats["p99_ms"]
        result.rate = (stats["count"] - 1) / max((stats["last_ms"] - stats["first_ms"]) / 1000, 1e-9)
        result.cpu_us = (cpu_end - cpu_start) / stats["count"] * 1e6
    if result.delivered < expected:
        result.note = f"INCOMPLETE {result.delivered}/{expected}"
    return result


def summarize_profile(path: Path, top: int = 25) -> None:
    """Own and inclusive sample counts per function from py-spy's folded stacks."""
    if not path.exists():
        print(f"  (no profile at {path})")
        return
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].rstrip(")") for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    for title, table in (("own", own), ("inclusive", inclusive)):
        print(f"\n  py-spy, {title} samples of {total}:")
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {100 * count / total:5.1f}%  {frame}")


def spread(values: list[float], fmt: str) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "n/a"
    return "/".join(format(v, fmt) for v in (min(values), statistics.median(values), max(values)))


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(f"\nmin/median/max over {args.rounds} interleaved rounds")
    columns = ("records/s", "CPU us/record", "p50 ms", "p99 ms", "load")
    header = f"{'transport':<11} {'phase':<8} " + " ".join(f"{c:>20}" for c in columns)
    print(header + "\n" + "-" * len(header))
    for phase in ("backlog", "rate"):
        for transport in args.transports:
            rows = [r for r in results if r.transport == transport and r.phase == phase]
            if not rows:
                continue
            notes = "; ".join(r.note for r in rows if r.note)
            cells = (
                spread([r.rate for r in rows], ".0f"),
                spread([r.cpu_us for r in rows], ".0f"),
                spread([r.p50_ms for r in rows], ".1f"),
                spread([r.p99_ms for r in rows], ".1f"),
                spread([r.load for r in rows], ".2f"),
            )
            print(f"{transport:<11} {phase:<8} " + " ".join(f"{c:>20}" for c in cells) + f"  {notes}")
    by_round: dict[tuple[int, str], dict[str, Result]] = {}
    for r in results:
        by_round.setdefault((r.round, r.phase), {})[r.transport] = r
    ratios = [
        (pair["persistent"].rate / pair["rest"].rate, pair["rest"].cpu_us / pair["persistent"].cpu_us)
        for (_, phase), pair in by_round.items()
        if phase == "backlog" and {"rest", "persistent"} <= set(pair)
    ]
    if ratios:
        faster = spread([r for r, _ in ratios], ".2f")
        cheaper = spread([c for _, c in ratios], ".2f")
        print(f"\npersistent vs rest, backlog, per round: records/s x{faster}, CPU per record /{cheaper}")
    print("aims (issue #13): persistent >= 6,000 records/s and <= 150 us CPU/record; p99 <= 20 ms at 1,000/s")


async def bench(args: argparse.Namespace, workdir: Path) -> list[Result]:
    sink = GoSink(build_sink(), workdir)
    await sink.start()
    results: list[Result] = []
    try:
        for round_ in range(args.rounds):
            for phase in args.phases:
                for transport in args.transports:
                    run = backlog if phase == "backlog" else steady
                    began = time.monotonic()
                    result = await run(transport, round_, args, sink, workdir)
                    results.append(result)
                    r = result
                    print(
                        f"  round {round_ + 1} {transport:<10} {phase:<7} {r.delivered:>6} delivered, "
                        f"{r.rate:7.0f} rec/s, {r.cpu_us:6.0f} us/rec, p99 {r.p99_ms:6.1f} ms, "
                        f"load {r.load:.2f} ({time.monotonic() - began:.0f}s) {r.note}",
                        flush=True,
                    )
    finally:
        await sink.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--phase-timeout", type=float, default=180)
    parser.add_argument("--transports", default=",".join(TRANSPORTS))
    parser.add_argument("--phases", default="backlog,rate")
    parser.add_argument("--py-spy", help="py-spy binary: profile the persistent bridge in round 1's backlog")
    parser.add_argument("--workdir", type=Path, help="keep configs, logs and profiles here")
    args = parser.parse_args()
    args.transports = [t for t in args.transports.split(",") if t]
    args.phases = [p for p in args.phases.split(",") if p]
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    print(
        f"transport bench: {args.records} backlog records over {args.keys} keys, {args.rate:g} rec/s x "
        f"{args.duration:g}s steady, {args.partitions} partitions, {args.connections} server connections, "
        f"{args.rounds} rounds, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    broker = KafkaBroker(partitions=args.partitions)
    broker.start()
    args.bootstrap = broker.bootstrap_servers
    try:
        if args.workdir is not None:
            args.workdir.mkdir(parents=True, exist_ok=True)
            results = asyncio.run(bench(args, args.workdir.resolve()))
        else:
            with tempfile.TemporaryDirectory(prefix="transport-bench-") as workdir:
                results = asyncio.run(bench(args, Path(workdir)))
    finally:
        broker.stop()
    report(results, args)


if __name__ == "__main__":
    assert REPO.exists()
    main()
