"""Faults for server connections (test hooks only): refused handshakes, late or missing acks, drops.

Standing faults live here and apply to every server connection until cleared; one-off actions
(drop the connections now, send ``ServiceError`` or ``Offline``) are methods of
:class:`bridge.emulator.server_connections.ServerEndpoint`.
"""

from __future__ import annotations

from typing import Any

from bridge.emulator.faults import FaultError


class ServerFaults:
    def __init__(self) -> None:
        self.refused = 0
        """Handshakes refused so far (never reset)."""
        self.clear()

    def clear(self) -> None:
        self._refusal: str | None = None
        self._refusals_left: int | None = None
        self.ack_delay_seconds = 0.0
        self._withheld_left = 0  # -1: every ack until cleared
        self._drop_after: int | None = None

    def refuse_handshakes(self, error: str, count: int | None = None) -> None:
        """Answer the next ``count`` handshakes (all, when None) with ``error``."""
        if not error:
            raise FaultError("a refusal needs an error message")
        if count is not None and count < 1:
            raise FaultError("count must be at least 1")
        self._refusal, self._refusals_left = error, count

    def delay_acks(self, milliseconds: float) -> None:
        if milliseconds < 0:
            raise FaultError("ack delay must not be negative")
        self.ack_delay_seconds = milliseconds / 1000

    def withhold_acks(self, count: int | None = None) -> None:
        """Never send the next ``count`` acks (every ack, when None)."""
        if count is not None and count < 1:
            raise FaultError("count must be at least 1")
        self._withheld_left = -1 if count is None else count

    def drop_after(self, messages: int) -> None:
        """Cut the connection that reads the ``messages``-th next message, right after reading it."""
        if messages < 1:
            raise FaultError("messages must be at least 1")
        self._drop_after = messages

    # consumed by the server connections ------------------------------------------------------
    def refusal(self) -> str | None:
        if self._refusal is None:
            return None
        error = self._refusal
        self.refused += 1
        if self._refusals_left is not None:
            self._refusals_left -= 1
            if self._refusals_left == 0:
                self._refusal = self._refusals_left = None
        return error

    def withhold(self) -> bool:
        if self._withheld_left == 0:
            return False
        if self._withheld_left > 0:
            self._withheld_left -= 1
        return True

    def drop_now(self) -> bool:
        """Count one message read; True when the connection that read it must be cut."""
        if self._drop_after is None:
            return False
        self._drop_after -= 1
        if self._drop_after > 0:
            return False
        self._drop_after = None
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "refuse_handshake": self._refusal,
            "refusals_left": self._refusals_left,
            "ack_delay_ms": self.ack_delay_seconds * 1000,
            "withhold_acks": "all" if self._withheld_left < 0 else self._withheld_left,
            "drop_after_messages": self._drop_after,
            "refused": self.refused,
        }
