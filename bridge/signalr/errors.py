"""One exception tree for everything the SignalR delivery package raises.

Callers can catch :class:`SignalRError` for all of it, or a subclass for one
kind of failure. No message in this tree ever contains a secret (AccessKey,
token, client secret).
"""

from __future__ import annotations


class SignalRError(Exception):
    """Base of every error raised by ``bridge.signalr``."""


class ConnectionStringError(SignalRError, ValueError):
    """A connection string is malformed; the message names the offending key, never a secret."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class PreflightError(SignalRError, ValueError):
    """An action breaks a service limit or name rule; it would fail permanently, so nothing was sent."""


class AuthError(SignalRError):
    """A token could not be obtained (missing optional dependency, credential failure)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class DeliveryError(SignalRError):
    """An action could not be delivered; ``result`` holds the classified outcome when there is one."""

    def __init__(self, message: str, *, result: object | None = None) -> None:
        super().__init__(message)
        self.result = result


class ClientClosedError(SignalRError):
    """The client was used after ``aclose()``."""
