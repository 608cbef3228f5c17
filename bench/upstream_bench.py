"""Upstream receiver: requests per second, answer latency and CPU per request (numbers, not a test).

Starts a real Kafka broker, the receiver in this process (one inbound route, idempotent acks=all
producer) and a plain aiohttp handler that answers 204 without Kafka on the same HTTP stack, then
posts signed invocations at a fixed concurrency to each, interleaved, for several rounds:

    .venv/bin/python bench/upstream_bench.py [--requests 3000] [--concurrency 32] [--rounds 3]

CPU is this process's user+system time (the receiver and the load generator share it, so the
ratio against the plain handler is what to read, not the absolute value).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy" / "local"))
from kafka_broker import KafkaBroker

from bridge.config import load_config_text
from bridge.observability.health import HealthState
from bridge.observability.metrics import BridgeMetrics
from bridge.upstream.receiver import UpstreamReceiver

KEY = "bench-key-0123456789abcdefghijklmnopqrstuvwxyz0123"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def load(url: str, requests: int, concurrency: int) -> tuple[float, list[float], float]:
    """Post ``requests`` invocations; (seconds, per-request latencies, CPU seconds)."""
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                connection = f"conn-{n % 200}"
                body = json.dumps({"type": 1, "target": "send", "arguments": [n, "hello"]})
                headers = {
                    "X-ASRS-Connection-Id": connection,
                    "X-ASRS-Hub": "chat",
                    "X-ASRS-Category": "messages",
                    "X-ASRS-Event": "send",
                    "X-ASRS-User-Id": f"user-{n % 50}",
                    "Content-Type": "application/json",
                    "X-ASRS-Signature": "sha256="
                    + hmac.new(KEY.encode(), connection.encode(), hashlib.sha256).hexdigest(),
                }
                started = time.perf_counter()
                response = await http.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 204, response.text

        cpu, began = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - began, latencies, cpu_seconds() - cpu


async def plain_handler() -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/plain"


def summary(name: str, seconds: float, latencies: list[float], cpu: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "target": name,
        "rate": len(latencies) / seconds,
        "p50_ms": 1000 * ordered[len(ordered) // 2],
        "p99_ms": 1000 * ordered[int(len(ordered) * 0.99) - 1],
        "cpu_us_per_request": 1e6 * cpu / len(latencies),
    }


async def main(requests: int, concurrency: int, rounds: int) -> None:
    broker = KafkaBroker(partitions=3)
    await asyncio.to_thread(broker.start)
    try:
        text = f"""
kafka: {{bootstrap_servers: "{broker.bootstrap_servers}"}}
signalr: {{hub: chat, connection_string: "Endpoint=https://x.service.signalr.net;AccessKey={KEY};Version=1.0;"}}
upstream:
  host: 127.0.0.1
  port: 0
  routes: [{{name: bench, category: messages, topic: bench-in}}]
"""
        config = load_config_text(text, environ={}).config
        metrics = BridgeMetrics(process_metrics=False)
        health = HealthState(metrics, outbound=False)
        receiver = UpstreamReceiver(config, metrics=metrics, health=health)
        await receiver.start()
        for _ in range(600):  # the producer connects in the background
            if health.readiness().ok:
                break
            await asyncio.sleep(0.1)
        runner, plain_url = await plain_handler()
        await load(receiver.url + "/chat/messages/send", 200, concurrency)  # warm up, create the topic
        results: dict[str, list[dict[str, Any]]] = {"receiver": [], "plain": []}
        for _ in range(rounds):
            for name, url in (("receiver", receiver.url + "/chat/messages/send"), ("plain", plain_url)):
                results[name].append(summary(name, *await load(url, requests, concurrency)))
        await runner.cleanup()
        await receiver.stop()
    finally:
        await asyncio.to_thread(broker.stop)
    print(
        f"load average: {os.getloadavg()}; {requests} requests x {rounds} rounds, concurrency {concurrency}"
    )
    for field in ("rate", "p50_ms", "p99_ms", "cpu_us_per_request"):
        for name, rows in results.items():
            values = [row[field] for row in rows]
            print(
                f"{name:>8} {field:>20}: min {min(values):9.1f}  median {statistics.median(values):9.1f}"
                f"  max {max(values):9.1f}"
            )
    ratios = [
        r["cpu_us_per_request"] / p["cpu_us_per_request"]
        for r, p in zip(results["receiver"], results["plain"], strict=True)
    ]
    low, mid, high = min(ratios), statistics.median(ratios), max(ratios)
    print(f"CPU per request, receiver / plain handler: min {low:.2f} median {mid:.2f} max {high:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.rounds))
