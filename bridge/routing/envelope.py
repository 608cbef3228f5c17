"""The data expressions see: ``topic``, ``partition``, ``offset``, ``timestamp``, ``key``,
``value`` and ``headers``.

- ``value`` follows the route's ``value_format``: ``json`` (default; a tombstone is
  ``null``), ``text`` (UTF-8), or ``bytes`` (base64 text, since JSON has no bytes type).
  A value that does not decode is ``decode_error``. ``NaN``/``Infinity`` and numbers too
  large for a float are rejected, because the SignalR body must be strict JSON.
- ``key`` and header values are always text. Undecodable bytes become U+FFFD instead of
  failing, so a binary key never dead-letters a record whose route ignores the key.
- ``headers`` is an object; when a header repeats, the last value wins (as in most
  Kafka client maps). ``timestamp`` is epoch milliseconds or ``null``.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any, Literal

from .errors import RoutingError, RoutingReason
from .record import Record

ValueFormat = Literal["json", "text", "bytes"]


def build_envelope(record: Record, value_format: ValueFormat, *, route: str) -> dict[str, Any]:
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "key": None if record.key is None else record.key.decode("utf-8", errors="replace"),
        "headers": {name: value.decode("utf-8", errors="replace") for name, value in record.headers},
        "value": decode_value(record.value, value_format, route=route),
    }


def decode_value(raw: bytes | None, value_format: ValueFormat, *, route: str) -> Any:
    if raw is None:
        return None
    if value_format == "bytes":
        return base64.b64encode(raw).decode("ascii")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RoutingError(
            RoutingReason.DECODE_ERROR,
            f"value is not UTF-8 text (byte {exc.start})",
            route=route,
            field="value",
        ) from None
    if value_format == "text":
        return text
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        message = f"value is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except (ValueError, RecursionError) as exc:
        message = f"value is not JSON: {exc}" if isinstance(exc, ValueError) else "value is nested too deeply"
    raise RoutingError(RoutingReason.DECODE_ERROR, message, route=route, field="value")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:40]} is out of range")
    return number


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
