"""Classify every answer (or transport failure) of the service into what the bridge does next.

* ``delivered`` - 2xx.
* ``benign`` - a 404 whose ``x-ms-error-code`` says the desired state already holds
  (removing a user from a group it is not in, closing a connection that is gone), or
  the "no" of an existence check. Not a failure, not retried.
* ``retry`` - 408, 429 (honouring ``Retry-After``), 5xx, timeouts, connection errors,
  and one 401 (the token may have expired: it is re-minted first).
* ``failed-permanent`` - everything else: bad names, auth, 404 without a known code
  (wrong URL or endpoint), a connection that vanished before a send or group add.

500 on a send: the service returns 500 for internal timeouts too, after it may
already have fanned the message out, which is why the .NET SDK never retries it.
This bridge promises at-least-once delivery, so by default it *does* retry: a
client can see the message twice, never zero times. Pass
``retry_ambiguous_sends=False`` for at-most-once behaviour (the SDK's); the
send then fails permanently with reason ``ambiguous``. Read timeouts and dropped
connections after a send was written carry the same risk and follow the same switch.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import aiohttp
import httpx

from .requests import RestRequest


class Outcome(StrEnum):
    DELIVERED = "delivered"
    BENIGN = "benign"
    RETRY = "retry"
    FAILED_PERMANENT = "failed-permanent"
    FAILED_TRANSIENT = "failed-transient"
    """Only in final results: retries ran out (attempts, total time or the caller's deadline)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one attempt amounted to. ``reason`` is short and stable enough to be a metric label."""

    outcome: Outcome
    reason: str
    status: int | None = None
    error_code: str | None = None
    retry_after: float | None = None
    reauthenticate: bool = False
    payload: Any = field(default=None, compare=False, repr=False)
    """The JSON answer, only for requests with ``returns_body``."""

    def describe(self) -> str:
        parts = [self.reason]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.error_code:
            parts.append(f"x-ms-error-code {self.error_code}")
        return ", ".join(parts)


def classify_response(
    request: RestRequest,
    status: int,
    headers: Mapping[str, str],
    *,
    retry_ambiguous_sends: bool = True,
) -> Verdict:
    code = headers.get("x-ms-error-code") or None
    retry_ambiguous_sends = retry_ambiguous_sends and not request.at_most_once
    if 200 <= status < 300:
        return Verdict(Outcome.DELIVERED, "ok", status, code)
    if status == 404:
        if code is not None and code in request.benign_not_found:
            return Verdict(Outcome.BENIGN, "not-found" if request.is_check else "already-so", status, code)
        if code is not None and code.endswith(".NotExisted"):
            return Verdict(Outcome.FAILED_PERMANENT, "not-found", status, code)
        return Verdict(Outcome.FAILED_PERMANENT, "no-such-route", status, code)
    if status == 401:
        return Verdict(Outcome.RETRY, "unauthorized", status, code, reauthenticate=True)
    if status == 429:
        return Verdict(Outcome.RETRY, "throttled", status, code, retry_after=parse_retry_after(headers))
    if status == 408:
        return Verdict(Outcome.RETRY, "request-timeout", status, code)
    if status == 500 and request.is_message and not retry_ambiguous_sends:
        return Verdict(Outcome.FAILED_PERMANENT, "ambiguous", status, code)
    if status >= 500:
        return Verdict(Outcome.RETRY, "server-error", status, code, retry_after=parse_retry_after(headers))
    if status == 413:
        return Verdict(Outcome.FAILED_PERMANENT, "too-large", status, code)
    if status == 403:
        return Verdict(Outcome.FAILED_PERMANENT, "forbidden", status, code)
    if status == 400:
        return Verdict(Outcome.FAILED_PERMANENT, "bad-request", status, code)
    return Verdict(Outcome.FAILED_PERMANENT, "rejected", status, code)


def classify_exception(
    request: RestRequest, exc: BaseException, *, retry_ambiguous_sends: bool = True
) -> Verdict:
    """Transport failures: connect problems are always safe to retry; others may follow a sent request."""
    name = type(exc).__name__
    retry_ambiguous_sends = retry_ambiguous_sends and not request.at_most_once
    refused = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if refused and not _lost_after_connect(exc):
        return Verdict(Outcome.RETRY, "connect-failed", error_code=name)
    if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
        if request.is_message and not retry_ambiguous_sends:
            return Verdict(Outcome.FAILED_PERMANENT, "ambiguous", error_code=name)
        reason = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection-lost"
        return Verdict(Outcome.RETRY, reason, error_code=name)
    return Verdict(Outcome.FAILED_PERMANENT, "transport-error", error_code=name)


def _lost_after_connect(exc: BaseException) -> bool:
    """httpx-aiohttp maps every aiohttp connection error to ConnectTimeout, even a server that
    hung up after the request was written; look at the aiohttp cause to tell them apart."""
    cause = exc.__cause__
    if not isinstance(cause, aiohttp.ClientError):
        return False
    return not isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP-date), capped to one hour; None if absent/bad."""
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), 3600.0)


# The persistent transport's answers, in the same classes (bridge.signalr.persistent).
DELIVERED: Final = Verdict(Outcome.DELIVERED, "ok")
"""A send confirmed by a barrier: the service read it (it says nothing per send)."""
_ACK_NAMES: Final = {2: "NotFound", 3: "Timeout", 4: "InternalServerError"}


def classify_ack(status: int, message: str | None = None, *, not_found_is_benign: bool) -> Verdict:
    """The ``Ack`` of a ``...WithAck`` message: Ok, NotFound (a removal's "already so", an add's
    vanished connection), Timeout and InternalServerError (retried); unknown statuses are refused."""
    if status == 1:
        return DELIVERED
    name = _ACK_NAMES.get(status, str(status))
    code = f"Ack.{name}" + (f": {message}" if message else "")
    if status == 2:
        if not_found_is_benign:
            return Verdict(Outcome.BENIGN, "already-so", error_code=code)
        return Verdict(Outcome.FAILED_PERMANENT, "not-found", error_code=code)
    if status == 3:
        return Verdict(Outcome.RETRY, "timeout", error_code=code)
    if status == 4:
        return Verdict(Outcome.RETRY, "server-error", error_code=code)
    return Verdict(Outcome.FAILED_PERMANENT, "rejected", error_code=code)
