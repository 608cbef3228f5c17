"""``signalr-bridge run --config FILE``: consume, route, deliver until stopped."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ._exit import EXIT_USAGE, CliError
from ._kafka import kafka_errors
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
        return EXIT_USAGE
    from bridge.observability.server import ListenError  # noqa: PLC0415 - imported with the daemon
    from bridge.pipeline.daemon import run_bridge  # noqa: PLC0415 - faust is slow to import

    with kafka_errors(loaded.config):  # Kafka unreachable at start: one line, exit 2
        try:
            return asyncio.run(run_bridge(loaded))
        except ListenError as exc:
            raise CliError(
                f"{exc} (another bridge running? set observability.port, "
                "or SIGNALR_BRIDGE__OBSERVABILITY__PORT; 0 picks a free port)"
            ) from None
