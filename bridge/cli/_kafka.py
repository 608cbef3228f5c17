"""What the Kafka tools (``produce``, ``dlq list``/``show``) share: the config's kafka section, errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bridge.config import BridgeConfig, ConfigError, load_config

from ._exit import EXIT_PROBLEMS, CliError


def load_for_kafka(path: str) -> BridgeConfig:
    """The config, for its ``kafka`` section: the SignalR side need not be set up for these tools."""
    try:
        loaded = load_config(path, strict_env=False)
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_PROBLEMS) from None
    for name in loaded.unset_variables:
        print(f"{path}: warning: environment variable {name} is not set; read as empty text", file=sys.stderr)
    return loaded.config


@contextmanager
def kafka_errors(config: BridgeConfig) -> Iterator[None]:
    """Kafka being unreachable or refusing is one line and exit 2, not a traceback."""
    from aiokafka.errors import KafkaError  # noqa: PLC0415 - aiokafka loads with the command

    servers = ",".join(config.kafka.bootstrap_servers)
    try:
        yield
    except KafkaError as exc:
        detail = str(exc) or type(exc).__name__
        raise CliError(f"Kafka at {servers}: {detail}") from None
    except OSError as exc:
        raise CliError(f"Kafka at {servers}: {exc.strerror or exc}") from None
