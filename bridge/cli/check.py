"""``signalr-bridge check --config FILE``: validate a config without touching the network.

Exit 0 when the daemon could start with it; 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys

from bridge.config import (
    ConfigError,
    ConfigIssue,
    LoadedConfig,
    config_warnings,
    load_config,
    startup_problems,
)
from bridge.routing import compile_routes
from bridge.routing.inbound import compile_inbound_routes
from bridge.upstream.keys import key_problems

HELP = "validate a config file (no network)"

CONFIG_ENV_VAR = "SIGNALR_BRIDGE_CONFIG"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help=HELP,
        description="Validate a config file (YAML, schema, expressions, environment) without network access.",
    )
    add_config_argument(parser)
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


def load_for_startup(path: str) -> LoadedConfig | None:
    """The config the daemon would start with, or None after printing why it would not start."""
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
    issues: list[ConfigIssue] = []
    for compile_direction in (compile_routes, compile_inbound_routes):
        try:
            compile_direction(loaded)
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        print(ConfigError(issues), file=sys.stderr)
        return None
    problems = startup_problems(loaded) + key_problems(loaded.config, loaded.file)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return None
    for warning in config_warnings(loaded.config):
        print(f"{path}: warning: {warning}", file=sys.stderr)
    return loaded


def run(args: argparse.Namespace) -> int:
    loaded = load_for_startup(args.config)
    if loaded is None:
        return 1
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
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"
