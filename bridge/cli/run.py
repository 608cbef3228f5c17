"""``signalr-bridge run --config FILE``: consume, route, deliver until stopped."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from .check import add_config_argument, load_for_startup

HELP = "run the bridge: Kafka in, SignalR out"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help=HELP,
        description="Consume the routed Kafka topics and deliver to Azure SignalR Service until "
        "SIGTERM/SIGINT (drains in-flight records, commits, exits 0; a second signal forces exit).",
    )
    add_config_argument(parser)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    loaded = load_for_startup(args.config)
    if loaded is None:
        return 2
    from bridge.pipeline.daemon import run_bridge  # noqa: PLC0415 - faust is slow to import

    return asyncio.run(run_bridge(loaded))
