"""Delivery throughput against a loopback sink that answers 202 (a benchmark, not a test).

Prints sends/s and client CPU microseconds per request for each HTTP transport:
httpx's default transport, the httpx-aiohttp transport, several httpx clients
round-robin, HTTP/2 when available, and the full ``SignalRClient.deliver`` path
(tokens, classification, limiter) on each transport. The sink runs in its own
process so the CPU figures are the client's alone. Loopback only, bounded run.

    .venv/bin/python bench/delivery_bench.py [--requests 4000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import time
from collections.abc import Awaitable, Callable

import httpx
from aiohttp import web

from bridge.signalr import RetryPolicy, SignalRClient
from bridge.signalr.actions import SendToGroup
from bridge.signalr.client import make_transport

KEY = "bench-access-key-0123456789-abcdefghijklmnopq"
MAX_SECONDS_PER_CASE = 20.0


def run_sink(port_queue: multiprocessing.Queue[int]) -> None:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def measure(
    name: str, send: Callable[[int], Awaitable[None]], requests: int, concurrency: int
) -> tuple[str, float, float]:
    await asyncio.gather(*(send(i) for i in range(min(concurrency, 50))))  # warm the pool
    counter = iter(range(requests))
    deadline = time.monotonic() + MAX_SECONDS_PER_CASE
    done = 0

    async def worker() -> None:
        nonlocal done
        for i in counter:
            if time.monotonic() > deadline:
                return
            await send(i)
            done += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rate, cpu_us = done / wall, cpu / done * 1e6
    print(f"{name:<44} {rate:>9.0f} sends/s {cpu_us:>8.0f} CPU us/request  ({done} in {wall:.2f}s)")
    return name, rate, cpu_us


def raw_sender(clients: list[httpx.AsyncClient], base: str) -> Callable[[int], Awaitable[None]]:
    body = b'{"target":"t","arguments":[{"n":1}]}'
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}

    async def send(i: int) -> None:
        client = clients[i % len(clients)]
        response = await client.post(
            f"{base}/api/hubs/chat/groups/g/:send?api-version=2022-06-01", content=body, headers=headers
        )
        if response.status_code != 202:
            raise RuntimeError(f"sink answered {response.status_code}")

    return send


async def bench(port: int, requests: int, concurrency: int) -> None:
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    results: list[tuple[str, float, float]] = []
    print(f"loopback sink {base}, {requests} requests per case, {concurrency} in flight\n")

    async def raw(name: str, clients: list[httpx.AsyncClient]) -> None:
        try:
            results.append(await measure(name, raw_sender(clients, base), requests, concurrency))
        finally:
            for c in clients:
                await c.aclose()

    await raw("httpx default transport (1 client)", [httpx.AsyncClient(limits=limits)])
    await raw(
        "httpx + httpx-aiohttp transport (1 client)",
        [httpx.AsyncClient(transport=make_transport("aiohttp", limits))],
    )
    per = httpx.Limits(
        max_connections=max(1, concurrency // 4), max_keepalive_connections=max(1, concurrency // 4)
    )
    await raw("httpx default transport (4 clients)", [httpx.AsyncClient(limits=per) for _ in range(4)])
    await raw(
        "httpx-aiohttp transport (4 clients)",
        [httpx.AsyncClient(transport=make_transport("aiohttp", per)) for _ in range(4)],
    )
    if importlib.util.find_spec("h2") is not None:
        await raw(
            "httpx HTTP/2 prior knowledge (h2c)", [httpx.AsyncClient(http1=False, http2=True, limits=limits)]
        )
    else:
        print(f"{'httpx HTTP/2':<44} skipped: h2 is not installed (and the sink speaks HTTP/1.1 only)")

    conn = f"Endpoint=http://127.0.0.1;Port={port};AccessKey={KEY};Version=1.0;"
    action = SendToGroup(target="t", arguments=({"n": 1},), group="g")
    for transport in ("httpx", "aiohttp"):
        async with SignalRClient(
            conn,
            hub="chat",
            transport=transport,  # type: ignore[arg-type]
            max_concurrency=concurrency,
            retry=RetryPolicy(max_attempts=1),
            health_interval=None,
        ) as client:

            async def deliver(i: int, client: SignalRClient = client) -> None:
                result = await client.deliver(action)
                if not result.ok:
                    raise RuntimeError(result.detail)

            results.append(
                await measure(f"SignalRClient.deliver, {transport} transport", deliver, requests, concurrency)
            )

    best = max(results, key=lambda r: r[1])
    baseline = results[0]
    print(f"\nfastest: {best[0]} ({best[1] / baseline[1]:.2f}x the httpx default transport)")
    for name, rate, cpu in results[1:]:
        print(f"  {name:<44} {rate / baseline[1]:.2f}x sends/s, {cpu / baseline[2]:.2f}x CPU per request")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    sink = multiprocessing.Process(target=run_sink, args=(queue,), daemon=True)
    sink.start()
    try:
        port = queue.get(timeout=10)
        asyncio.run(bench(port, args.requests, args.concurrency))
    finally:
        sink.terminate()
        sink.join(5)


if __name__ == "__main__":
    main()
