"""Reusable validated field types for the config schema: structure only.

These types check what can be told from the text alone (JSON-ness, ranges, Kafka names,
host:port). Whether a template or expression parses and whether a literal name meets the
service's rules are checked by :func:`bridge.routing.compile_routes` after loading, and
reported with the same file, line, route and field (see ``bridge/routing/checks.py``):
``bridge.config`` depends on nothing else in the package.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator, WithJsonSchema

MAX_TTL = 2**31 - 1  # the service's ttl is an int32
_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_SERVER_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _json_argument(value: Any, path: str = "") -> Any:
    """Arguments are JSON (every string in them is a template, checked by routing)."""
    if isinstance(value, str | bool | int) or value is None:
        pass
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path or 'value'}: {value} is not a JSON number")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_argument(item, f"{path}[{index}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path or 'object'}: key {key!r} must be text (quote it)")
            _json_argument(item, f"{path}.{key}" if path else key)
    else:
        kind = "a date" if isinstance(value, datetime.date) else type(value).__name__
        raise ValueError(f"{path or 'value'} is {kind}, which is not JSON (quote it to make it text)")
    return value


def _topic(value: str) -> str:
    if not _TOPIC_RE.match(value):
        raise ValueError(f"{value!r} is not a Kafka topic name (1..249 of letters, digits, '.', '_', '-')")
    return value


def _topic_pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


def _name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid name "
            "(start with a letter or digit; then letters, digits, '.', '_', '-')"
        )
    return value


def _servers(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _server(value: str) -> str:
    match = _SERVER_RE.match(value)
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise ValueError(f"{value!r} is not host:port")
    return value


def _iso_date_text(value: Any) -> Any:
    # YAML reads an unquoted 2022-06-01 as a date; the api-version is meant as text.
    return value.isoformat() if isinstance(value, datetime.date) else value


def _ttl(value: Any) -> int | str:
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds or a template")
    if isinstance(value, int):
        if not 0 <= value <= MAX_TTL:
            raise ValueError(f"must be 0..{MAX_TTL} seconds")
        return value
    if isinstance(value, str):
        if value.strip().isascii() and value.strip().isdigit():
            return _ttl(int(value))
        return value  # routing checks that it is a template such as '{value.ttl}'
    raise ValueError("must be a number of seconds or a template such as '{value.ttl}'")


Template = Annotated[
    str,
    Field(description="Literal text, or text with {JMESPath} expressions, e.g. 'room-{value.roomId}'"),
]
Expression = Annotated[str, Field(description="A JMESPath expression")]
HubName = str  # a hub or application name; a template where the config allows one
JsonArgument = Annotated[Any, AfterValidator(_json_argument)]
TopicName = Annotated[str, AfterValidator(_topic)]
TopicPattern = Annotated[str, AfterValidator(_topic_pattern)]
ServerAddress = Annotated[str, AfterValidator(_server)]
ServerList = Annotated[
    tuple[ServerAddress, ...],
    BeforeValidator(_servers, json_schema_input_type=list[str] | str),
    Field(min_length=1),
]
Name = Annotated[
    str,
    AfterValidator(_name),
    Field(description="Letters, digits, '.', '_', '-' (used as a metric label)"),
]
ApiVersion = Annotated[
    Literal["2022-06-01", "2023-07-01", "2024-12-01", "v1"], BeforeValidator(_iso_date_text)
]
Ttl = Annotated[
    int | str,
    PlainValidator(_ttl),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]}),
]
