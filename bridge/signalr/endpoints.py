"""Service endpoints (primary/secondary) and their health as the client sees it.

Routing rule (issue #4): every action goes to each online primary; for each
primary that is down, one online secondary stands in. Health comes from
``HEAD /api/health`` probes and from the answers themselves: a run of
connection failures, timeouts or 5xx marks an endpoint offline, any HTTP
answer below 500 (or a good probe) marks it online again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

from .connection_string import ConnectionString, parse_connection_string
from .transport import TransportKind

T = TypeVar("T")


class EndpointRole(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    connection: ConnectionString
    role: EndpointRole = EndpointRole.PRIMARY
    name: str = ""
    """Label in results and metrics; defaults to the REST host:port."""
    transport: TransportKind = "rest"
    """How actions travel: ``rest`` (a request each) or ``persistent`` (server connections)."""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", urlsplit(self.connection.rest_base).netloc)

    @classmethod
    def parse(
        cls, connection_string: str, role: str = "primary", name: str = "", transport: TransportKind = "rest"
    ) -> Endpoint:
        connection = parse_connection_string(connection_string)
        return cls(connection=connection, role=EndpointRole(role), name=name, transport=transport)


# Verdict reasons that say "the endpoint itself is in trouble" (not "this request was bad").
UNHEALTHY_REASONS = frozenset({"connect-failed", "connection-lost", "timeout", "server-error"})


class EndpointHealth:
    """Online/offline with hysteresis: ``failures_to_offline`` bad answers in a row take it down."""

    def __init__(self, *, failures_to_offline: int = 3) -> None:
        self.online = True
        self.consecutive_failures = 0
        self._threshold = failures_to_offline

    def record(self, healthy: bool) -> bool:
        """Record one observation; return True when online/offline flipped."""
        if healthy:
            self.consecutive_failures = 0
            if not self.online:
                self.online = True
                return True
            return False
        self.consecutive_failures += 1
        if self.online and self.consecutive_failures >= self._threshold:
            self.online = False
            return True
        return False

    def force_offline(self) -> bool:
        """A failed health probe: no hysteresis, the endpoint said so itself."""
        flipped = self.online
        self.online = False
        self.consecutive_failures = max(self.consecutive_failures, self._threshold)
        return flipped


def choose_targets(primaries: list[tuple[T, bool]], secondaries: list[tuple[T, bool]]) -> list[T]:
    """Online primaries, plus one online secondary per primary that is down.

    With nothing online at all, every primary is tried anyway: health may be stale and
    the retry loop is the better judge.
    """
    targets = [item for item, online in primaries if online]
    down = sum(1 for _, online in primaries if not online)
    standby = [item for item, online in secondaries if online]
    targets.extend(standby[:down])
    if not targets:
        targets = [item for item, _ in primaries] or [item for item, _ in secondaries]
    return targets
