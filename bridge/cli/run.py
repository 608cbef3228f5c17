"""``signalr-bridge run --config FILE``: consume, route, deliver until stopped."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bridge.config import ConfigError, load_config, startup_problems


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the bridge: Kafka in, SignalR out",
        description="Consume the routed Kafka topics and deliver to Azure SignalR Service until "
        "SIGTERM/SIGINT (drains in-flight records, commits, exits 0; a second signal forces exit).",
    )
    parser.add_argument("--config", "-c", required=True, help="the routing file (YAML)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        loaded = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    problems = startup_problems(loaded)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    from bridge.pipeline.daemon import run_bridge  # noqa: PLC0415 - faust is slow to import

    return asyncio.run(run_bridge(loaded))
