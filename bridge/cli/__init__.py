"""The `signalr-bridge` command line.

Each subcommand lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` to a
function ``(args) -> int`` (the exit code). Modules are discovered, so adding a
subcommand touches nothing but its own file. Every handler runs inside
:func:`bridge.cli._exit.run_guarded`: one line and a documented exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from bridge import __version__

from ._exit import DEBUG_ENV_VAR, OneLineParser, run_guarded


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="signalr-bridge",
        description="Kafka to Azure SignalR Service bridge.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help=f"show the traceback of an internal error (or {DEBUG_ENV_VAR}=1)"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    args.prog = f"{parser.prog} {args.command}"
    return run_guarded(handler, args)
