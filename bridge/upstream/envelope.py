"""The record value for an upstream event: a versioned JSON envelope (``bridge/upstream/README.md``).

Every event has the same keys, so consumers can rely on one shape; what does not apply is
``null`` (or ``[]`` for ``arguments``). ``version`` changes only when a key changes meaning
or disappears; new keys may be added within a version.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Final

from .protocol import UpstreamEvent

ENVELOPE_VERSION: Final = 1


def build_envelope(
    event: UpstreamEvent, *, timestamp_ms: int | None = None, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "version": ENVELOPE_VERSION,
        # The service gives an event no id or time (UPSTREAM.md §2.1): minted on receipt.
        "id": event_id or uuid.uuid4().hex,
        "timestamp": timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000,
        "hub": event.hub,
        "category": event.category,
        "event": event.event,
        "connectionId": event.connection_id,
        "userId": event.user_id,
        "claims": [{"type": kind, "value": value} for kind, value in event.claims],
        "query": dict(event.query),
        "protocol": event.protocol,
        "invocationId": event.invocation_id,
        "arguments": list(event.arguments),
        "error": event.error,
    }


def encode_envelope(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
