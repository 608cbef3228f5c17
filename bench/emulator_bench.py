"""Emulator throughput (a benchmark, not a test): REST sends/s and messages delivered/s.

Starts the emulator in a child process (so its CPU is not the load generator's), opens
``--clients`` raw WebSocket clients in one hub, half of them in a group, then measures
broadcast and group sends with ``--concurrency`` in flight, counting the frames the
clients receive. Loopback only, bounded run.

    .venv/bin/python bench/emulator_bench.py [--requests 2000] [--clients 20] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from multiprocessing.connection import Connection

import aiohttp
import jwt

from bridge.emulator import EmulatorServer

KEY = "bench-access-key-0123456789-abcdefghijklmnopq"
RS = "\x1e"
API = "?api-version=2024-12-01"


def _sign(aud: str) -> str:
    return jwt.encode({"aud": aud, "exp": int(time.time()) + 3600}, KEY.encode(), algorithm="HS256")


def _serve(pipe: Connection) -> None:
    async def main() -> None:
        async with EmulatorServer(access_key=KEY) as server:
            pipe.send(server.port)
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    asyncio.run(main())


async def _client(session: aiohttp.ClientSession, base: str, received: list[int], index: int) -> str:
    headers = {"Authorization": f"Bearer {_sign('http://127.0.0.1/client/?hub=bench')}"}
    async with session.post(f"{base}/client/negotiate?hub=bench&negotiateVersion=1", headers=headers) as r:
        body = await r.json()
    ws = await session.ws_connect(f"{base}/client/?hub=bench&id={body['connectionToken']}", headers=headers)
    await ws.send_str('{"protocol":"json","version":1}' + RS)
    await ws.receive()

    async def read() -> None:
        async for frame in ws:
            received[index] += sum(1 for r in str(frame.data).split(RS) if '"type":1' in r)

    asyncio.get_running_loop().create_task(read())
    return str(body["connectionId"])


async def _send_all(
    session: aiohttp.ClientSession, url: str, token: str, requests: int, concurrency: int
) -> None:
    remaining = iter(range(requests))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps({"target": "bench", "arguments": [{"n": 1, "text": "x" * 200}]})

    async def worker() -> None:
        for _ in remaining:
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 202, response.status

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _case(
    session: aiohttp.ClientSession,
    base: str,
    *,
    path: str,
    received: list[int],
    fan_out: int,
    args: argparse.Namespace,
) -> str:
    before = sum(received)
    started = time.perf_counter()
    await _send_all(
        session, base + path + API, _sign("http://127.0.0.1" + path), args.requests, args.concurrency
    )
    sent = time.perf_counter() - started
    expected = args.requests * fan_out
    deadline = time.monotonic() + 30
    # Polling is fine here: the readers only count, and the wait is bounded.
    while sum(received) - before < expected and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    total = time.perf_counter() - started
    delivered = sum(received) - before
    return (
        f"{args.requests} sends in {sent:.2f}s = {args.requests / sent:6.0f} sends/s; "
        f"{delivered}/{expected} frames received in {total:.2f}s = {delivered / total:6.0f} frames/s"
    )


async def run(args: argparse.Namespace, port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    received = [0] * args.clients
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
        ids = [await _client(session, base, received, i) for i in range(args.clients)]
        for connection_id in ids[: args.clients // 2]:
            path = f"/api/hubs/bench/groups/half/connections/{connection_id}"
            headers = {"Authorization": f"Bearer {_sign('http://127.0.0.1' + path)}"}
            async with session.put(base + path + API, headers=headers) as r:
                assert r.status == 200
        print(f"clients={args.clients} concurrency={args.concurrency}")
        print(
            "broadcast    ",
            await _case(
                session,
                base,
                path="/api/hubs/bench/:send",
                received=received,
                fan_out=args.clients,
                args=args,
            ),
        )
        half = args.clients // 2
        print(
            "group (half) ",
            await _case(
                session,
                base,
                path="/api/hubs/bench/groups/half/:send",
                received=received,
                fan_out=half,
                args=args,
            ),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child,), daemon=True)
    server.start()
    try:
        asyncio.run(run(args, parent.recv()))
    finally:
        parent.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()


if __name__ == "__main__":
    main()
