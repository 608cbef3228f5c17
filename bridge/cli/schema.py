"""``signalr-bridge schema``: print (or write) the config file's JSON Schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.config.json_schema import render_json_schema

HELP = "print the config JSON Schema (for editors)"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("schema", help=HELP)
    parser.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    text = render_json_schema()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
