"""``signalr-bridge emulator``: run the local Azure SignalR Service emulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

from bridge.emulator import EmulatorServer, UpstreamSettings
from bridge.emulator.upstream import UpstreamSettingsError

from ._exit import EXIT_USAGE, port_number

HELP = "run a local Azure SignalR Service emulator (serverless mode)"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help=HELP,
        description="Serve the SignalR data-plane REST API and client endpoint locally. "
        "Prints the connection string on the first line of stdout.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8888, help="port to bind, 0 for any free port")
    parser.add_argument("--access-key", help="AccessKey to accept (default: a random key)")
    parser.add_argument(
        "--test-hooks", action="store_true", help="enable fault injection and inspection under /_emulator/"
    )
    upstream = parser.add_mutually_exclusive_group()
    upstream.add_argument(
        "--upstream",
        metavar="URL_TEMPLATE",
        help="send every client event to this URL ({hub}, {category}, {event} are filled in)",
    )
    upstream.add_argument(
        "--upstream-settings",
        metavar="FILE",
        help="upstream templates and retries, in the Microsoft emulator's settings.json format",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        upstream = _upstream(args)
    except UpstreamSettingsError as exc:
        print(f"signalr-bridge emulator: {exc}", file=sys.stderr)
        return 1
    server = EmulatorServer(
        host=args.host,
        port=args.port,
        access_key=args.access_key,
        test_hooks=args.test_hooks,
        upstream=upstream,
    )
    try:
        asyncio.run(_serve(server))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"signalr-bridge emulator: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr)
        return EXIT_USAGE
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


def _upstream(args: argparse.Namespace) -> UpstreamSettings | None:
    if args.upstream_settings:
        return UpstreamSettings.load(args.upstream_settings)
    if args.upstream:
        return UpstreamSettings.from_json({"Templates": [{"UrlTemplate": args.upstream}]})
    return None
