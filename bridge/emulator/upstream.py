"""Upstream webhooks, as the service calls them in serverless mode (UPSTREAM.md).

Settings are the Microsoft emulator's ``settings.json`` (keys case-insensitive)::

    {"UpstreamSettings": {"Templates": [
        {"UrlTemplate": "http://127.0.0.1:8080/upstream/{hub}/{category}/{event}",
         "HubPattern": "*", "CategoryPattern": "*", "EventPattern": "*"}],
     "Retry": {"MaxAttempts": 1, "DelaySeconds": 1, "MaxDelaySeconds": 10},
     "TimeoutSeconds": 100}}

The first template whose three patterns match is used (``*``, a comma list, or one name; an
absent pattern matches anything); none matching means nothing is sent. Per connection every
call is awaited before the next (``connected`` before the client's first message is read,
each invocation before the next one, ``disconnected`` last), so upstream sees a client's events
in the order the client produced them.

Decisions where the service is undocumented (UNCONFIRMED in UPSTREAM.md):

* **Retries** are off by default (``MaxAttempts: 1``), as the service was last documented to
  behave (Azure/azure-signalr#1407). With ``MaxAttempts > 1`` a call that fails with a network
  error, a timeout, 429 or 5xx is repeated after ``DelaySeconds``, doubling up to
  ``MaxDelaySeconds``, with the same body and signature; the connection's later events wait.
* An ``invoke()`` no template matches gets the error completion for status 404 (the Microsoft
  emulator sends nothing and the client waits forever).
* ``X-ASRS-User-Claims`` lists the client token's claims except ``aud``, ``exp``, ``iat`` and
  ``nbf``; a list claim gives one entry per item.
* The signature is lower-case hex (the Microsoft emulator's is upper-case; receivers compare
  case-insensitively).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from bridge.emulator import protocol

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
_PLACEHOLDER = re.compile(r"\{(hub|category|event)\}")
_RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_NOT_FORWARDED_CLAIMS = frozenset({"aud", "exp", "iat", "nbf"})
_NETWORK_ERROR = 500  # how the service reports an upstream it could not reach


class UpstreamSettingsError(ValueError):
    """The settings file cannot be used."""


@dataclass(frozen=True)
class UpstreamTemplate:
    url_template: str
    hub_pattern: str | None = None
    category_pattern: str | None = None
    event_pattern: str | None = None

    def matches(self, hub: str, category: str, event: str) -> bool:
        return (
            _pattern_matches(self.hub_pattern, hub, fold_case=True)  # hubs are case-insensitive
            and _pattern_matches(self.category_pattern, category)
            and _pattern_matches(self.event_pattern, event)
        )

    def url(self, hub: str, category: str, event: str) -> str:
        values = {"hub": hub, "category": category, "event": event}
        return _PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), self.url_template)


def _pattern_matches(pattern: str | None, value: str, *, fold_case: bool = False) -> bool:
    if pattern is None:
        return True
    names = {name.strip() for name in pattern.split(",")}
    if "*" in names:
        return True
    return (value.lower() in {n.lower() for n in names}) if fold_case else value in names


@dataclass(frozen=True)
class UpstreamRetry:
    max_attempts: int = 1
    delay_seconds: float = 1.0
    max_delay_seconds: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        return float(min(self.delay_seconds * 2 ** (attempt - 1), self.max_delay_seconds))


@dataclass(frozen=True)
class UpstreamSettings:
    templates: tuple[UpstreamTemplate, ...]
    retry: UpstreamRetry = field(default_factory=UpstreamRetry)
    timeout_seconds: float = 100.0  # the Microsoft emulator's HttpClient default

    @classmethod
    def everything_to(cls, url_template: str, *, retry: UpstreamRetry | None = None) -> UpstreamSettings:
        """One template for every hub, category and event (the Functions convention)."""
        return cls((UpstreamTemplate(url_template),), retry or UpstreamRetry())

    @classmethod
    def load(cls, path: str | Path) -> UpstreamSettings:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UpstreamSettingsError(f"cannot read upstream settings {path}: {exc}") from None
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Any) -> UpstreamSettings:
        section = _get(data, "UpstreamSettings", data)
        templates = _get(section, "Templates", None)
        if not isinstance(templates, list) or not templates:
            raise UpstreamSettingsError("UpstreamSettings.Templates must be a non-empty list")
        parsed = []
        for item in templates:
            url = _get(item, "UrlTemplate", None)
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise UpstreamSettingsError("every template needs an absolute http(s) UrlTemplate")
            patterns = [_get(item, name, None) for name in ("HubPattern", "CategoryPattern", "EventPattern")]
            if any(p is not None and not isinstance(p, str) for p in patterns):
                raise UpstreamSettingsError("patterns are text: '*', 'a,b' or one name")
            parsed.append(UpstreamTemplate(url, *patterns))
        retry = _get(section, "Retry", {}) or {}
        try:
            policy = UpstreamRetry(
                max_attempts=int(_get(retry, "MaxAttempts", 1)),
                delay_seconds=float(_get(retry, "DelaySeconds", 1.0)),
                max_delay_seconds=float(_get(retry, "MaxDelaySeconds", 10.0)),
            )
            timeout = float(_get(section, "TimeoutSeconds", 100.0))
        except (TypeError, ValueError):
            raise UpstreamSettingsError("Retry values and TimeoutSeconds must be numbers") from None
        if policy.max_attempts < 1 or policy.delay_seconds < 0 or timeout <= 0:
            raise UpstreamSettingsError("MaxAttempts must be at least 1, delays and the timeout positive")
        return cls(tuple(parsed), policy, timeout)

    def template_for(self, hub: str, category: str, event: str) -> UpstreamTemplate | None:
        return next((t for t in self.templates if t.matches(hub, category, event)), None)


def _get(mapping: Any, key: str, default: Any) -> Any:
    """Case-insensitive lookup, as .NET configuration reads settings.json."""
    if not isinstance(mapping, Mapping):
        return default
    for name, value in mapping.items():
        if isinstance(name, str) and name.lower() == key.lower():
            return value
    return default


@dataclass(frozen=True)
class Caller:
    """What the service knows about the client connection behind an event."""

    connection_id: str
    hub: str
    user_id: str | None
    claims: tuple[tuple[str, str], ...] = ()
    query: str = ""  # the connect request's raw query, without "?"


def claims_of(token_claims: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, item if isinstance(item, str) else json.dumps(item))
        for name, value in token_claims.items()
        if name not in _NOT_FORWARDED_CLAIMS
        for item in (value if isinstance(value, list) else [value])
    )


def signature(access_key: str, connection_id: str) -> str:
    digest = hmac.new(access_key.encode("utf-8"), connection_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes = b""
    too_large: bool = False
    unreachable: bool = False  # no answer at all (refused, reset, timed out): counts as status 500


class UpstreamCaller:
    """Calls upstream for the client endpoint; counts answers into ``counters`` (test hooks)."""

    def __init__(self, settings: UpstreamSettings, access_key: str, counters: Counter[str]) -> None:
        self.settings = settings
        self._key = access_key
        self._counters = counters
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def connected(self, caller: Caller) -> None:
        await self._call(caller, "connections", "connected", {"type": 10})

    async def disconnected(self, caller: Caller, error: str | None) -> None:
        body: dict[str, Any] = {"type": 11}
        if error:
            body["error"] = error
        await self._call(caller, "connections", "disconnected", body)

    async def invocation(self, caller: Caller, message: dict[str, Any]) -> str | None:
        """Send a client's Invocation upstream; the frame to write back to the client, if any."""
        target = str(message.get("target", ""))
        answer = await self._call(caller, "messages", target, message)
        invocation_id = message.get("invocationId")
        if invocation_id is None:
            return None  # send(): the client expects nothing
        if answer is None:
            return protocol.encode(_completion(invocation_id, "Invocation failed, status code 404"))
        if answer.too_large:
            return protocol.encode(_completion(invocation_id, "Invocation failed, response too large."))
        if answer.status == 200 and answer.body:
            return answer.body.decode("utf-8", errors="replace")  # the upstream's own framed Completion
        if answer.status in (200, 204):
            return protocol.encode(_completion(invocation_id))
        return protocol.encode(_completion(invocation_id, f"Invocation failed, status code {answer.status}"))

    async def _call(self, caller: Caller, category: str, event: str, body: dict[str, Any]) -> _Answer | None:
        template = self.settings.template_for(caller.hub, category, event)
        if template is None:
            return None
        url = template.url(caller.hub, category, event)
        headers = {
            "X-ASRS-Connection-Id": caller.connection_id,
            "X-ASRS-Hub": caller.hub,
            "X-ASRS-Category": category,
            "X-ASRS-Event": event,
            "X-ASRS-Signature": signature(self._key, caller.connection_id),
            "Content-Type": "application/json",
        }
        if caller.user_id:
            headers["X-ASRS-User-Id"] = caller.user_id
        if caller.claims:
            headers["X-ASRS-User-Claims"] = ", ".join(f"{kind}: {value}" for kind, value in caller.claims)
        if caller.query:
            headers["X-ASRS-Client-Query"] = "?" + caller.query
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        retry = self.settings.retry
        attempt = 1
        while True:
            answer = await self._post(url, headers, data)
            self._counters["unreachable" if answer.unreachable else str(answer.status)] += 1
            if answer.status not in _RETRIED_STATUSES or attempt >= retry.max_attempts:
                if not 200 <= answer.status < 300:
                    log.warning(
                        "upstream %s/%s for %s answered %d", category, event, caller.hub, answer.status
                    )
                return answer
            self._counters["retried"] += 1
            await asyncio.sleep(retry.delay(attempt))
            attempt += 1

    async def _post(self, url: str, headers: dict[str, str], data: bytes) -> _Answer:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds)
            )
        try:
            async with self._session.post(url, data=data, headers=headers) as response:
                body = await response.content.read(MAX_RESPONSE_BYTES + 1)
                return _Answer(response.status, body[:MAX_RESPONSE_BYTES], len(body) > MAX_RESPONSE_BYTES)
        except (aiohttp.ClientError, TimeoutError):
            return _Answer(_NETWORK_ERROR, unreachable=True)


def _completion(invocation_id: Any, error: str | None = None) -> dict[str, Any]:
    """``CompletionMessage.Empty`` without ``error``, else the service's error completion."""
    message: dict[str, Any] = {"type": protocol.MessageType.COMPLETION.value, "invocationId": invocation_id}
    if error is not None:
        message["error"] = error
    return message
