"""``signalr-bridge dlq replay --config FILE [--dry-run]``: send dead-lettered records again."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bridge.config import ConfigError, load_config
from bridge.routing import compile_routes

from .check import add_config_argument

HELP = "work with the dead-letter topic"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dlq", help=HELP)
    commands = parser.add_subparsers(title="dlq commands", metavar="COMMAND", required=True)
    replay = commands.add_parser(
        "replay",
        help="send dead-lettered records through the routes again",
        description="Route and deliver every record of the dead-letter topic (up to its end when the "
        "replay starts). Records that fail again go back to the topic with fresh error headers. "
        "Exit code: 0 when all were delivered or skipped, 1 when some failed again, 2 on errors.",
    )
    add_config_argument(replay)
    replay.add_argument("--dry-run", action="store_true", help="print what would be sent; change nothing")
    replay.add_argument("--group", help="consumer group that remembers the replay's progress")
    replay.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from bridge.pipeline.replay import ReplayError, replay_dead_letters  # noqa: PLC0415 - slow imports

    try:
        loaded = load_config(args.config)
        compile_routes(loaded)  # semantic problems located in the file, before any connection
        config = loaded.config
        summary = asyncio.run(replay_dead_letters(config, dry_run=args.dry_run, group=args.group))
    except (ConfigError, ReplayError) as exc:
        print(exc, file=sys.stderr)
        return 2
    verb = "would be delivered" if args.dry_run else "delivered"
    print(f"{summary.replayed} {verb}, {summary.failed_again} failed again, {summary.skipped} skipped")
    return 1 if summary.failed_again else 0
