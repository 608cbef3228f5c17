"""``signalr-bridge dlq list|show|replay``: look into the dead-letter topic, and send its records again."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bridge.config import BridgeConfig

from ._exit import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, CliError
from ._kafka import kafka_errors, load_for_kafka
from ._startup import startup_report
from .check import add_config_argument

if TYPE_CHECKING:
    from bridge.pipeline.dlq_reader import DeadLetter, DeadLetterQuery

HELP = "look into the dead-letter topic (list, show) and replay it"
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WHERE = re.compile(r"^(\d+)@(\d+)$")
_DETAIL_CHARS = 80


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dlq", help=HELP)
    commands = parser.add_subparsers(title="dlq commands", metavar="COMMAND", required=True)

    listing = commands.add_parser(
        "list",
        help="one line per dead-lettered record: where, when, reason, route, detail",
        description="List the newest dead-lettered records (oldest first), one per line. "
        "PARTITION@OFFSET names a record for `dlq show`.",
    )
    _add_query_arguments(listing, default_limit=20)
    listing.set_defaults(handler=_list)

    show = commands.add_parser(
        "show",
        help="everything about dead-lettered records: key, value, every header",
        description="Show dead-lettered records in full: key, value (JSON pretty-printed, text, or "
        "base64), the original headers and every bridge.* header. Without PARTITION@OFFSET: the "
        "newest record that matches the filters. Exit 1 when none matches.",
    )
    show.add_argument("at", nargs="*", metavar="PARTITION@OFFSET", help="records to show, e.g. 0@12")
    _add_query_arguments(show, default_limit=1)
    show.set_defaults(handler=_show)

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


def _add_query_arguments(parser: argparse.ArgumentParser, *, default_limit: int) -> None:
    add_config_argument(parser)
    parser.add_argument("--reason", action="append", default=[], help="only this failure reason (repeatable)")
    parser.add_argument("--route", action="append", default=[], help="only this route (repeatable)")
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="dead-lettered at or after TIME: 2026-12-01T18:00, 2026-12-01, or 10m / 2h / 1d ago",
    )
    parser.add_argument("--until", metavar="TIME", help="dead-lettered before TIME (same forms)")
    parser.add_argument(
        "--limit",
        type=int,
        default=default_limit,
        help=f"at most this many, the newest (default {default_limit})",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per record and line, for scripts"
    )


def parse_time(text: str, now: float | None = None) -> int:
    """Epoch milliseconds of an ISO 8601 time (local time unless it says otherwise) or of ``10m`` ago."""
    relative = _RELATIVE.match(text.strip())
    if relative is not None:
        seconds = float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
        return int(((time.time() if now is None else now) - seconds) * 1000)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(
            f"{text!r} is not a time: use 2026-12-01T18:00, 2026-12-01, or 10m / 2h / 1d"
        ) from None
    return int(moment.timestamp() * 1000)


def _query(args: argparse.Namespace) -> DeadLetterQuery:
    from bridge.pipeline.dlq_reader import DeadLetterQuery  # noqa: PLC0415 - aiokafka loads with the command

    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    at: list[tuple[int, int]] = []
    for item in getattr(args, "at", []):
        match = _WHERE.match(item)
        if match is None:
            raise CliError(f"{item!r} is not PARTITION@OFFSET (as `dlq list` prints it, e.g. 0@12)")
        at.append((int(match.group(1)), int(match.group(2))))
    return DeadLetterQuery(
        reasons=frozenset(args.reason),
        routes=frozenset(args.route),
        since_ms=parse_time(args.since) if args.since else None,
        until_ms=parse_time(args.until) if args.until else None,
        at=tuple(at),
        limit=max(args.limit, len(at)),
    )


def _read(args: argparse.Namespace) -> tuple[BridgeConfig, list[DeadLetter]]:
    from bridge.pipeline.dlq_reader import DeadLetterTopicMissingError, read_dead_letters  # noqa: PLC0415

    config = load_for_kafka(args.config)
    topic = config.dead_letter.topic
    if topic is None:
        raise CliError(f"{args.config} has no dead_letter.topic: failed records are logged and skipped")
    query = _query(args)
    with kafka_errors(config):
        try:
            found = asyncio.run(read_dead_letters(config.kafka, topic, query))
        except DeadLetterTopicMissingError:
            found = []  # nothing was ever dead-lettered: no topic yet
    return config, found


def _list(args: argparse.Namespace) -> int:
    config, found = _read(args)
    if args.json:
        _print_json(found)
    elif found:
        rows = [("WHERE", "DEAD-LETTERED (UTC)", "REASON", "ROUTE", "SOURCE", "DETAIL")]
        rows += [
            (
                dead.where,
                _utc(dead.record.timestamp_ms),
                dead.reason or "-",
                dead.route or "-",
                _source(dead),
                _shorten(dead.facts.get("error.detail", "")),
            )
            for dead in found
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            print(
                "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
            )
    else:
        print(f"no dead-lettered record in {config.dead_letter.topic} matches", file=sys.stderr)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    config, found = _read(args)
    if not found:
        print(f"no dead-lettered record in {config.dead_letter.topic} matches", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.json:
        _print_json(found)
        return EXIT_OK
    for number, dead in enumerate(found):
        if number:
            print()
        print(_describe(dead))
    return EXIT_OK


def _describe(dead: DeadLetter) -> str:
    from bridge.pipeline.dlq_reader import decode_value  # noqa: PLC0415

    record, facts = dead.record, dead.facts
    key_format, key = decode_value(record.key, parse_json=False)
    value_format, value = decode_value(record.value)
    lines = [
        f"{record.topic} {dead.where}, dead-lettered {_utc(record.timestamp_ms)} UTC",
        f"  reason:  {dead.reason or '-'}",
        f"  route:   {dead.route or '-'}",
        f"  detail:  {facts.get('error.detail', '-')}",
        f"  source:  {_source(dead)}, produced {_utc(_int(facts.get('source.timestamp')))} UTC",
        f"  key:     {_shown(key_format, key)}",
    ]
    if value_format == "json":
        pretty = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n           ")
        lines.append(f"  value:   {pretty}")
    else:
        note = "  (text, not JSON)" if value_format == "text" else ""
        lines.append(f"  value:   {_shown(value_format, value)}{note}")
    original = [(name, raw) for name, raw in record.headers if not name.startswith("bridge.")]
    lines.append(
        "  headers: " + (", ".join(f"{n}={raw.decode(errors='replace')}" for n, raw in original) or "-")
    )
    width = max((len(name) for name, _ in record.headers), default=0)
    for name, raw in record.headers:
        if name.startswith("bridge."):
            text = raw.decode(errors="replace")
            when = f" ({_utc(_int(text))} UTC)" if name.endswith(("timestamp", "failed_at")) else ""
            lines.append(f"  {name.ljust(width)}  {text}{when}")
    return "\n".join(lines)


def _shown(kind: str, value: Any) -> str:
    if kind == "null":
        return "(null)"
    if kind == "base64":
        return f"{value} (base64: not UTF-8 text)"
    if kind == "text":  # quoted only where blanks at the ends would be invisible
        return json.dumps(value, ensure_ascii=False) if value != value.strip() or not value else str(value)
    return json.dumps(value, ensure_ascii=False)


def _print_json(found: list[DeadLetter]) -> None:
    for dead in found:
        print(json.dumps(dead.as_json(), ensure_ascii=False))


def _source(dead: DeadLetter) -> str:
    facts = dead.facts
    topic = facts.get("source.topic")
    if topic is None:
        return "-"
    return f"{topic}[{facts.get('source.partition', '?')}]@{facts.get('source.offset', '?')}"


def _utc(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _shorten(text: str) -> str:
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _replay(args: argparse.Namespace) -> int:
    from bridge.pipeline.replay import ReplayError, replay_dead_letters  # noqa: PLC0415 - slow imports

    report = startup_report(args.config)
    for line in report.errors + report.warnings:
        print(line, file=sys.stderr)
    if report.loaded is None or report.errors:
        return EXIT_USAGE
    config = report.loaded.config
    with kafka_errors(config):
        try:
            summary = asyncio.run(replay_dead_letters(config, dry_run=args.dry_run, group=args.group))
        except ReplayError as exc:
            raise CliError(str(exc)) from None
    verb = "would be delivered" if args.dry_run else "delivered"
    print(f"{summary.replayed} {verb}, {summary.failed_again} failed again, {summary.skipped} skipped")
    return EXIT_PROBLEMS if summary.failed_again else EXIT_OK
