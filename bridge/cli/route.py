"""``signalr-bridge route``: show what one record would become, without sending anything.

Prints every SignalR request (method, URL, body) the record produces, or why it would be
dead-lettered. Exit 0 when the record routes (or no route wants it), 1 for a config
error, 3 when the record would fail and be dead-lettered or skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.config import BridgeConfig, ConfigError, LoadedConfig, load_config
from bridge.routing import Record, RoutingError, compile_routes, request_for
from bridge.signalr.connection_string import parse_connection_string
from bridge.signalr.errors import ConnectionStringError, PreflightError

from .check import add_config_argument

HELP = "dry-run one record through the routes and print the SignalR requests"

PLACEHOLDER_BASE = "https://<your-signalr>.service.signalr.net"
EXIT_FAILED_RECORD = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "route",
        help=HELP,
        description="Print the exact SignalR requests one Kafka record would produce. No network.",
    )
    add_config_argument(parser)
    parser.add_argument("--topic", "-t", required=True)
    parser.add_argument("--key", "-k", help="record key (text)")
    parser.add_argument(
        "--header", "-H", action="append", default=[], metavar="NAME=VALUE", help="record header (repeatable)"
    )
    value = parser.add_mutually_exclusive_group()
    value.add_argument(
        "--value", "-v", help="record value as text (JSON for json routes); omit for a tombstone"
    )
    value.add_argument("--value-file", metavar="FILE", help="read the record value (bytes) from FILE")
    parser.add_argument("--partition", type=int, default=0)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--timestamp", type=int, default=None, metavar="MS", help="epoch milliseconds")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        loaded = load_config(args.config, strict_env=False)
        router = compile_routes(loaded)
        record = _record(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = loaded.config
    for note in _notes(loaded):
        print(f"note: {note}")
    base = _base_url(config)

    if not router.routes_for(record.topic):
        print(f'no route matches topic "{record.topic}": the record would be committed without any request')
        return 0
    try:
        routed = router.route(record)
        requests = [(item, request_for(config.signalr, item.action)) for item in routed]
    except RoutingError as exc:
        return _failed(config, exc.reason, str(exc))
    except PreflightError as exc:
        return _failed(config, "rejected", str(exc))
    if not requests:
        print("the matching routes' filters skip this record: it would be committed without any request")
        return 0
    for number, (item, request) in enumerate(requests, start=1):
        print(f'{number}. route "{item.route}" (ordering: {item.ordering}): {type(item.action).__name__}')
        print(f"   {request.method} {request.url(base)}")
        if request.content is not None:
            print(f"   {request.content.decode('utf-8')}")
    return 0


def _failed(config: BridgeConfig, reason: str, message: str) -> int:
    print(f"dead-letter ({reason}): {message}")
    dead_letter = config.dead_letter
    if dead_letter.dead_letters(reason):
        print(
            f'-> the record would be written to dead-letter topic "{dead_letter.topic}" with reason {reason}'
        )
    elif dead_letter.other_failures == "stop":
        print(
            "-> not dead-lettered (dead_letter.other_failures: stop): the consumer would stop on this record"
        )
    else:
        why = (
            "no dead_letter.topic" if dead_letter.topic is None else f"{reason} is not in dead_letter.reasons"
        )
        print(f"-> not dead-lettered ({why}): the record would be logged, counted and skipped")
    return EXIT_FAILED_RECORD


def _record(args: argparse.Namespace) -> Record:
    headers: list[tuple[str, bytes]] = []
    for item in args.header:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--header {item!r} is not NAME=VALUE")
        headers.append((name, text.encode("utf-8")))
    value: bytes | None = None
    if args.value_file is not None:
        value = Path(args.value_file).read_bytes()
    elif args.value is not None:
        value = args.value.encode("utf-8")
    return Record(
        topic=args.topic,
        partition=args.partition,
        offset=args.offset,
        timestamp_ms=args.timestamp,
        key=None if args.key is None else args.key.encode("utf-8"),
        value=value,
        headers=tuple(headers),
    )


def _notes(loaded: LoadedConfig) -> list[str]:
    notes = [
        f"environment variable {name} is not set; it was read as empty text"
        for name in loaded.unset_variables
    ]
    if not loaded.config.signalr.has_connection:
        notes.append(
            f"no SignalR connection string is configured; URLs use the placeholder {PLACEHOLDER_BASE}"
        )
    return notes


def _base_url(config: BridgeConfig) -> str:
    signalr = config.signalr
    secret = signalr.connection_string
    if secret is None and signalr.endpoints:
        primary = next(e for e in signalr.endpoints if e.role == "primary")
        secret = primary.connection_string
    if secret is None:
        return PLACEHOLDER_BASE
    try:
        return parse_connection_string(secret.get_secret_value()).rest_base
    except ConnectionStringError:  # already reported by validation; keep the dry-run useful
        return PLACEHOLDER_BASE
