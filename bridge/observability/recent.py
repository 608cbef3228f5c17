"""The last records that failed for good, for the status page: bounded, secrets masked."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Final

from bridge.observability.logging import redact_text

MAX_DETAIL_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class FailureNote:
    at: float  # epoch seconds
    route: str
    reason: str
    detail: str
    source: str  # topic[partition]@offset
    dead_lettered: bool  # False: logged and skipped


class RecentFailures:
    """A ring of the newest ``size`` failures; only touched from the event loop."""

    def __init__(self, size: int = 20) -> None:
        self._notes: deque[FailureNote] = deque(maxlen=size)

    def add(self, route: str | None, reason: str, detail: str, source: str, *, dead_lettered: bool) -> None:
        text = redact_text(detail)
        if len(text) > MAX_DETAIL_CHARS:
            text = text[: MAX_DETAIL_CHARS - 1] + "…"
        self._notes.append(FailureNote(time.time(), route or "", reason, text, source, dead_lettered))

    def newest_first(self) -> list[FailureNote]:
        return list(reversed(self._notes))
