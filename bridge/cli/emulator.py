"""``signalr-bridge emulator``: run the local Azure SignalR Service emulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from bridge.emulator import EmulatorServer

HELP = "run a local Azure SignalR Service emulator (serverless mode)"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help=HELP,
        description="Serve the SignalR data-plane REST API and client endpoint locally. "
        "Prints the connection string on the first line of stdout.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8888, help="port to bind, 0 for any free port")
    parser.add_argument("--access-key", help="AccessKey to accept (default: a random key)")
    parser.add_argument(
        "--test-hooks", action="store_true", help="enable fault injection and inspection under /_emulator/"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    server = EmulatorServer(
        host=args.host, port=args.port, access_key=args.access_key, test_hooks=args.test_hooks
    )
    try:
        asyncio.run(_serve(server))
    except OSError as exc:
        print(f"signalr-bridge emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(server: EmulatorServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with server:
        # The key is the user's own local key; it is printed only inside this string.
        print(server.connection_string, flush=True)
        await stop.wait()
