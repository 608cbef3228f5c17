"""How an action travels to one endpoint: the seam between deciding and sending.

:class:`bridge.signalr.client.SignalRClient` decides what happens to an action (which endpoints,
retries and backoff, throttling, outcome); a :class:`Transport` only carries one attempt to one
endpoint and says what it amounted to, as a :class:`~bridge.signalr.outcome.Verdict` of the same
classes for every transport (delivered, benign, retry, failed-permanent).

* ``rest`` (:mod:`bridge.signalr.rest`): one HTTP request per action; the answer is the verdict.
* ``persistent`` (:mod:`bridge.signalr.persistent`): frames on long-lived server connections; a
  send is delivered once an ``Ack`` written after it on the same connection came back, a group
  action with its own ``Ack``; a dropped connection gives ``retry`` for what was not confirmed.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal, Protocol

from .actions import Action
from .outcome import Verdict

TransportKind = Literal["rest", "persistent"]
TRANSPORT_KINDS: tuple[TransportKind, ...] = ("rest", "persistent")


class Transport(Protocol):
    kind: TransportKind
    manages_health: bool
    """True when the transport reports the endpoint's health itself (connection state) instead of
    the client counting failed attempts."""

    async def start(self) -> None: ...

    def prepare(self, action: Action) -> Any:
        """The action in this transport's form, built once per delivery; raises ``PreflightError``."""

    async def attempt(self, prepared: Any, *, key: Hashable | None, remaining: float) -> Verdict:
        """One attempt; ``key`` keeps one ordering domain on one path, ``remaining`` caps the wait."""

    async def probe(self) -> Verdict:
        """Is the endpoint usable now? ``delivered`` when it is."""

    async def aclose(self) -> None: ...
