"""Tuning of persistent server connections, with the reasons for each default."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field


def default_server_id() -> str:
    """``{machine}_{guid}`` like the SDK's ``DefaultServerNameProvider``: one per bridge process."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex}_{os.getpid()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PersistentSettings:
    connections: int = 4
    """Server connections per endpoint and hub. One key always rides one connection, so more
    connections never reorder a key; four spread the load over the service's instances, and a
    dropped one resends only its own share (the SDK's hub servers open 5, its sender 1)."""
    messagepack: bool = False
    """Also serialize each invocation for MessagePack clients (JSON is always serialized)."""
    barrier_every: int = 256
    """Messages wait while an ack is in flight on their connection and then go out together,
    ended by one barrier: about one write and one check per round trip and connection, and a
    send confirmed within about two round trips. This many waiting messages go out at once
    anyway, with a barrier after every this many sends, so a fast producer never waits on the
    round trip and a dropped connection never has more than this many sends per barrier to resend."""
    ack_timeout: float = 10.0
    """An ack that does not come within this many seconds means the connection is broken (the
    SDK's ack timeout); everything unconfirmed on it is then retried on a fresh connection."""
    handshake_timeout: float = 15.0
    keepalive: float = 5.0
    """Ping after this long without writing (the service pings every 5 s too)."""
    service_timeout: float = 30.0
    """Reconnect after this long without hearing from the service (the SDK's value)."""
    queue_timeout: float = 10.0
    """How long a message waits for its connection to come up before the attempt fails (retry)."""
    reconnect_base: float = 0.25
    reconnect_max: float = 15.0
    """Backoff between failed dials: equal jitter over ``base * 2^n``, capped; the first re-dial
    after a drop is immediate. Recovery takes seconds, not the SDK's 60 s cap."""
    max_hubs: int = 32
    """Hubs with open connections per endpoint (route hubs may come from records); the least
    recently used hub's connections close first, after confirming what they carried."""
    max_message_bytes: int = 1024 * 1024
    """Largest service message sent (the service's limit is UNCONFIRMED; REST's body limit)."""
    max_frame_bytes: int = 1024 * 1024
    """Several messages share one WebSocket message up to this size."""
    server_id: str = field(default_factory=default_server_id)

    def __post_init__(self) -> None:
        if self.connections < 1 or self.barrier_every < 1:
            raise ValueError("connections and barrier_every must be at least 1")
        if min(self.ack_timeout, self.handshake_timeout, self.keepalive, self.queue_timeout) <= 0:
            raise ValueError("timeouts must be positive")
