"""``signalr-bridge produce``: write test records to the configured Kafka.

One record from ``--value``, or one per line from ``--file`` or stdin (``-``), with the
config's bootstrap servers and security settings, acknowledged by every in-sync replica.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from bridge.config import BridgeConfig

from ._exit import EXIT_OK, CliError
from ._kafka import kafka_errors, load_for_kafka
from .check import add_config_argument
from .route import parse_headers

HELP = "write records to Kafka (one, or one per line of a file or stdin)"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "produce",
        help=HELP,
        description="Produce records to TOPIC with the config's Kafka settings: the value of --value, "
        "or one record per line of --file or of stdin (-); blank lines are skipped. "
        "Exit 0 when the broker acknowledged every record, 2 when Kafka cannot be reached.",
    )
    add_config_argument(parser)
    parser.add_argument("--topic", "-t", required=True)
    parser.add_argument("--key", "-k", help="record key (text), the same for every record")
    parser.add_argument(
        "--header", "-H", action="append", default=[], metavar="NAME=VALUE", help="record header (repeatable)"
    )
    parser.add_argument("--partition", type=int, help="partition (default: by key, as Kafka does)")
    values = parser.add_mutually_exclusive_group(required=True)
    values.add_argument("--value", "-v", help="the record value (text; JSON for json routes)")
    values.add_argument("--file", "-f", metavar="PATH", help="one record value per line")
    values.add_argument("stdin", nargs="?", choices=["-"], help="read one record value per line from stdin")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_for_kafka(args.config)
    try:
        headers = [(name, text.encode("utf-8")) for name, text in parse_headers(args.header)]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    key = None if args.key is None else args.key.encode("utf-8")
    with kafka_errors(config):
        if args.value is not None:
            where = asyncio.run(_produce(config, args, key, headers, iter([args.value])))
        elif args.file is not None:
            try:
                with Path(args.file).open(encoding="utf-8") as lines:
                    where = asyncio.run(_produce(config, args, key, headers, _values(lines)))
            except OSError as exc:
                raise CliError(f"cannot read {args.file}: {exc.strerror or exc}") from None
        else:
            where = asyncio.run(_produce(config, args, key, headers, _values(sys.stdin)))
    count, first = where
    if count == 1:
        print(f"produced 1 record to {first}")
    else:
        print(f"produced {count} records to {args.topic}")
    return EXIT_OK


def _values(lines: TextIO) -> Iterator[str]:
    for line in lines:
        value = line.rstrip("\r\n")
        if value.strip():
            yield value


async def _produce(
    config: BridgeConfig,
    args: argparse.Namespace,
    key: bytes | None,
    headers: list[tuple[str, bytes]],
    values: Iterator[str],
) -> tuple[int, str]:
    """How many records the broker acknowledged, and where the first one went (``topic[p]@offset``)."""
    from aiokafka import AIOKafkaProducer  # noqa: PLC0415 - aiokafka loads with the command

    from bridge.pipeline.kafka_app import aiokafka_security  # noqa: PLC0415

    kafka = config.kafka
    producer = AIOKafkaProducer(
        bootstrap_servers=list(kafka.bootstrap_servers),
        client_id=f"{kafka.client_id}-produce",
        acks="all",
        **aiokafka_security(kafka),
    )
    await producer.start()
    count, first = 0, ""
    try:
        pending: list[asyncio.Future[Any]] = []
        for value in values:
            pending.append(
                await producer.send(
                    args.topic, value.encode("utf-8"), key=key, headers=headers, partition=args.partition
                )
            )
            if len(pending) >= 1000 or count == 0:  # a long stdin stream stays bounded in memory
                for future in pending:
                    meta = await future
                    first = first or f"{args.topic}[{meta.partition}]@{meta.offset}"
                    count += 1
                pending.clear()
        for future in pending:
            await future
            count += 1
    finally:
        await producer.stop()
    return count, first
