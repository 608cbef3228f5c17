"""``signalr-bridge check --config FILE [--offline]``: validate a config without touching the network.

Exit 0 when the daemon could start with it; 1 with one line per problem otherwise. With
``--offline`` the file is checked for another machine: what depends on this machine's
environment (unset variables, the connection string, TLS files, installed extras) is a
warning, not an error.
"""

from __future__ import annotations

import argparse
import os
import sys

from bridge.config import LoadedConfig
from bridge.routing import compile_routes
from bridge.routing.inbound import compile_inbound_routes

from ._exit import EXIT_OK, EXIT_PROBLEMS
from ._startup import startup_report

HELP = "validate a config file (no network)"
CONFIG_ENV_VAR = "SIGNALR_BRIDGE_CONFIG"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help=HELP,
        description="Validate a config file (YAML, schema, expressions, environment) without network access. "
        "Exit 0 when `run` could start with it, 1 otherwise.",
    )
    add_config_argument(parser)
    parser.add_argument(
        "--offline",
        action="store_true",
        help="check the file for another machine: unset variables, a missing connection string, "
        "TLS files and extras are warnings",
    )
    parser.set_defaults(handler=run)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get(CONFIG_ENV_VAR)
    parser.add_argument(
        "--config",
        "-c",
        default=default,
        required=default is None,
        metavar="FILE",
        help=f"config file (default: ${CONFIG_ENV_VAR})",
    )


def load_for_startup(path: str, *, offline: bool = False) -> LoadedConfig | None:
    """The config the daemon would start with, or None after printing why it would not start."""
    report = startup_report(path, offline=offline)
    for line in report.errors + report.warnings:
        print(line, file=sys.stderr)
    return None if report.errors else report.loaded


def run(args: argparse.Namespace) -> int:
    loaded = load_for_startup(args.config, offline=args.offline)
    if loaded is None:
        return EXIT_PROBLEMS
    router = compile_routes(loaded)
    parts = []
    if router.routes:
        topics = ", ".join(sorted(router.topics)) or "-"
        patterns = ", ".join(dict.fromkeys(p.pattern for p in router.topic_patterns))
        extra = f"; topic patterns: {patterns}" if patterns else ""
        parts.append(f"{_count(len(router.routes), 'route')}; topics: {topics}{extra}")
    inbound = compile_inbound_routes(loaded)
    if inbound.routes:
        topics = ", ".join(sorted(inbound.topics))
        parts.append(f"{_count(len(inbound.routes), 'inbound route')} to topics: {topics}")
    print(f"{args.config}: OK ({'; '.join(parts)})")
    return EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"
