"""Async client for Azure SignalR Service over one or several endpoints, by REST or persistent connections.

``await client.deliver(action)`` never raises for a delivery problem: it returns
a :class:`DeliveryResult` (delivered | benign | failed-permanent | failed-transient)
with the reason, HTTP status and ``x-ms-error-code`` of the deciding endpoint and
one :class:`EndpointResult` per endpoint. Retries happen inside, bounded by the
policy's attempts and total time and by the caller's ``deadline``/``timeout``;
cancelling the awaiting task cancels them.

How an action travels to an endpoint is its :class:`~bridge.signalr.transport.Transport`
(``Endpoint.transport``): ``rest`` or ``persistent``. Everything else (endpoint choice,
retries, throttling, outcomes) is decided here, the same for both. Operations that are not
actions (existence checks, bulk close, tokens, client results) always use REST.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any, Literal, TypedDict

import httpx

from bridge import __version__

from .actions import Action
from .connection_string import ConnectionString, parse_connection_string
from .delivery import DeliveryResult, EndpointResult
from .endpoints import UNHEALTHY_REASONS, Endpoint, EndpointHealth, EndpointRole, choose_targets
from .errors import ClientClosedError, DeliveryError, PreflightError
from .observer import DeliveryObserver
from .outcome import Outcome, Verdict
from .persistent.settings import PersistentSettings
from .persistent.transport import PersistentTransport
from .requests import (
    DEFAULT_API_VERSION,
    RestRequest,
    close_connections_request,
    connection_exists_request,
    generate_token_request,
    group_exists_request,
    invoke_request,
    list_group_connections_request,
    next_page_request,
    user_exists_request,
    user_in_group_request,
)
from .rest import RestTransport
from .retry import RetryPolicy
from .throttle import AdaptiveLimiter
from .tokens import (
    AsyncTokenCredential,
    RestTokenProvider,
    client_access,
    client_hub_name,
    rest_token_provider,
)
from .transport import Transport

TransportName = Literal["httpx", "aiohttp"]
TransportFactory = Callable[[httpx.Limits], httpx.AsyncBaseTransport]

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=30.0)
# bench/delivery_bench.py: against a loopback 202 sink the httpx-aiohttp transport gave 3-13x the
# sends/s of httpx's own transport at a quarter to an eighth of the CPU per request; httpx's API
# (and its exception types) stay the same above it.
DEFAULT_TRANSPORT: TransportName = "aiohttp"


def make_transport(name: TransportName | TransportFactory, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    if callable(name):
        return name(limits)
    if name == "aiohttp":
        from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415 - only loaded when chosen

        transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
        return transport
    return httpx.AsyncHTTPTransport(limits=limits, verify=True)


class _Names(TypedDict):
    hub: str
    api_version: str
    application: str | None


class _EndpointState:
    """Everything the client keeps per endpoint: transports, throttle, health."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        rest: RestTransport,
        limiter: AdaptiveLimiter,
        health: EndpointHealth,
    ) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.base = endpoint.connection.rest_base
        self.rest = rest
        self.transport: Transport = rest
        """What actions travel by: ``rest`` or a persistent transport (``Endpoint.transport``)."""
        self.limiter = limiter
        self.health = health


_Job = Callable[[_EndpointState], tuple[Transport, Any]]
"""For one endpoint: the transport to use and the action (or request) in its form."""


class SignalRClient:
    def __init__(
        self,
        endpoints: Sequence[Endpoint] | Endpoint | ConnectionString | str,
        *,
        hub: str,
        application: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_concurrency: int = 128,
        transport: TransportName | TransportFactory = DEFAULT_TRANSPORT,
        observer: DeliveryObserver | None = None,
        health_interval: float | None = 10.0,
        failures_to_offline: int = 3,
        retry_ambiguous_sends: bool = True,
        token_providers: Mapping[str, RestTokenProvider] | None = None,
        credential: AsyncTokenCredential | None = None,
        persistent: PersistentSettings | None = None,
    ) -> None:
        """``endpoints``: one connection string / Endpoint, or several marked primary/secondary.

        ``persistent`` tunes the server connections of endpoints whose ``transport`` is
        ``persistent``.

        ``retry_ambiguous_sends``: retry a send answered 500 or cut off mid-request
        (at-least-once; the client may see it twice) - see :mod:`bridge.signalr.outcome`.
        ``token_providers`` (by endpoint name) and ``credential`` replace the defaults,
        e.g. to share one Entra credential.
        """
        self._endpoints = _as_endpoints(endpoints)
        names = [e.name for e in self._endpoints]
        if len(set(names)) != len(names):
            raise ValueError(f"endpoint names must be unique, got {names}")
        self.hub = hub
        self.application = application
        self.api_version = api_version
        self.retry = retry or RetryPolicy()
        self._timeout = timeout
        self._max_concurrency = max_concurrency
        self._transport = transport
        self._observer = observer or DeliveryObserver()
        self._health_interval = health_interval
        self._failures_to_offline = failures_to_offline
        self._retry_ambiguous = retry_ambiguous_sends
        self._token_providers = dict(token_providers or {})
        self._credential = credential
        self._persistent = persistent or PersistentSettings()
        self._states: list[_EndpointState] = []
        self._probe_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self._start_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SignalRClient(hub={self.hub!r}, endpoints={[e.name for e in self._endpoints]})"

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the pools and start health probes. Idempotent; ``deliver`` calls it when needed."""
        if self._closed:
            raise ClientClosedError("the client is closed")
        async with self._start_lock:
            if self._started:
                return
            limits = httpx.Limits(
                max_connections=self._max_concurrency,
                max_keepalive_connections=self._max_concurrency,
                keepalive_expiry=30.0,
            )
            for endpoint in self._endpoints:
                http = httpx.AsyncClient(
                    transport=make_transport(self._transport, limits),
                    timeout=self._timeout,
                    headers={"User-Agent": f"signalr-bridge/{__version__}"},
                    follow_redirects=False,
                )
                tokens = self._token_providers.get(endpoint.name) or rest_token_provider(
                    endpoint.connection, credential=self._credential
                )
                rest = RestTransport(
                    endpoint,
                    http=http,
                    tokens=tokens,
                    timeout=self._timeout,
                    hub=self.hub,
                    api_version=self.api_version,
                    application=self.application,
                    retry_ambiguous_sends=self._retry_ambiguous,
                )
                state = _EndpointState(
                    endpoint,
                    rest=rest,
                    limiter=AdaptiveLimiter(max_concurrency=self._max_concurrency),
                    health=EndpointHealth(failures_to_offline=self._failures_to_offline),
                )
                if endpoint.transport == "persistent":
                    state.transport = PersistentTransport(
                        endpoint,
                        hub=self.hub,
                        application=self.application,
                        settings=self._persistent,
                        tokens=tokens,
                        observer=self._observer,
                        on_health=functools.partial(self._set_health, state),
                    )
                self._states.append(state)
            # Persistent endpoints dial now, so readiness tells whether their handshake works.
            await asyncio.gather(*(s.transport.start() for s in self._states if s.transport is not s.rest))
            if self._health_interval is not None:
                self._probe_task = asyncio.create_task(self._probe_loop(self._health_interval))
            self._started = True

    async def aclose(self) -> None:
        """Stop probes and close the pools. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
        for state in self._states:
            if state.transport is not state.rest:
                await state.transport.aclose()  # confirms what was written, then closes with 1000
            await state.rest.aclose()

    async def __aenter__(self) -> SignalRClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- delivery ------------------------------------------------------------------------------

    async def deliver(
        self,
        action: Action,
        *,
        deadline: float | None = None,
        within: float | None = None,
        key: Hashable | None = None,
    ) -> DeliveryResult:
        """Deliver ``action`` to every target endpoint.

        ``deadline`` (a ``time.monotonic()`` value) and ``within`` (seconds from now) cap the
        time spent including retries; the policy's ``max_elapsed`` caps it per endpoint anyway.
        ``key`` is the ordering domain (e.g. the record's key): a persistent transport keeps
        every action of one key on one connection, so they reach the service in order.
        """
        await self._ensure_started()
        prepared: dict[str, Any] = {}

        def job(state: _EndpointState) -> tuple[Transport, Any]:
            transport = state.transport
            form = prepared.get(transport.kind)
            if form is None:
                form = prepared[transport.kind] = transport.prepare(action)
            return transport, form

        try:
            return await self._run(action, job, _deadline(deadline, within), key)
        except PreflightError as exc:
            result = DeliveryResult.preflight_failure(action, str(exc))
            self._observer.on_result(result)
            return result

    async def execute(
        self,
        request: RestRequest,
        *,
        action: Action | None = None,
        deadline: float | None = None,
        within: float | None = None,
    ) -> DeliveryResult:
        """Send a prepared REST request (any operation) to the target endpoints, with retries."""
        await self._ensure_started()
        return await self._run(
            action if action is not None else request,
            lambda state: (state.rest, request),
            _deadline(deadline, within),
            None,
        )

    async def _run(
        self, subject: Action | RestRequest, job: _Job, end: float, key: Hashable | None
    ) -> DeliveryResult:
        states = self._targets()
        if len(states) == 1:  # the common case: no task per delivery just to gather one result
            results = [await self._deliver_to(states[0], *job(states[0]), end, key)]
        else:
            jobs = [job(s) for s in states]  # pre-flight errors surface before anything is sent
            pairs = zip(states, jobs, strict=True)
            results = list(await asyncio.gather(*(self._deliver_to(s, *j, end, key) for s, j in pairs)))
        results = await self._stand_in(job, states, results, end, key)
        result = DeliveryResult.combine(subject, results)
        self._observer.on_result(result)
        return result

    # --- queries and bulk operations that are not actions -----------------------------------

    async def connection_exists(self, connection_id: str, *, hub: str | None = None) -> bool:
        return await self._check(connection_exists_request(connection_id, **self._names(hub)))

    async def user_exists(self, user_id: str, *, hub: str | None = None) -> bool:
        return await self._check(user_exists_request(user_id, **self._names(hub)))

    async def group_exists(self, group: str, *, hub: str | None = None) -> bool:
        return await self._check(group_exists_request(group, **self._names(hub)))

    async def user_in_group(self, user_id: str, group: str, *, hub: str | None = None) -> bool:
        return await self._check(user_in_group_request(user_id, group, **self._names(hub)))

    async def close_connections(
        self,
        *,
        hub: str | None = None,
        group: str | None = None,
        user_id: str | None = None,
        excluded: Sequence[str] = (),
        reason: str | None = None,
    ) -> DeliveryResult:
        request = close_connections_request(
            group=group, user_id=user_id, excluded=excluded, reason=reason, **self._names(hub)
        )
        return await self.execute(request)

    async def generate_client_token(
        self,
        *,
        user_id: str | None = None,
        minutes_to_expire: int = 60,
        hub: str | None = None,
        endpoint: str | None = None,
    ) -> tuple[str, str]:
        """``(url, access_token)`` for a client of ``endpoint`` (default: the first online primary).

        Signed locally with the AccessKey when there is one (no request); under Entra auth
        the service mints it with ``POST :generateToken``.
        """
        await self._ensure_started()
        state = self._pick(endpoint)
        conn = state.endpoint.connection
        name = hub or self.hub
        if conn.access_key is not None:
            return client_access(
                conn,
                name,
                user_id=user_id,
                lifetime_seconds=minutes_to_expire * 60,
                application=self.application,
            )
        if self.application:
            raise PreflightError(":generateToken takes no application; use an AccessKey or no application")
        request = generate_token_request(
            hub=name, user_id=user_id, minutes_to_expire=minutes_to_expire, api_version=self.api_version
        )
        result = await self._deliver_to(state, state.rest, request, _deadline(None, None), None)
        payload = self._payload(request, result)
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str):
            raise DeliveryError(f"generate_token: answer without a token (endpoint {state.name})")
        return f"{conn.client_base}/client/?hub={client_hub_name(name)}", token

    async def list_group_connections(
        self, group: str, *, hub: str | None = None, page_size: int = 200
    ) -> list[dict[str, Any]]:
        """Every ``{"connectionId", "userId"}`` in ``group`` on every endpoint (follows ``nextLink``)."""
        await self._ensure_started()
        first = list_group_connections_request(group, max_page_size=page_size, **self._names(hub))
        end = _deadline(None, None)
        members: list[dict[str, Any]] = []
        for state in self._states:
            request = first
            for _ in range(10_000):  # a page cap, in case a server keeps linking back
                payload = self._payload(
                    request, await self._deliver_to(state, state.rest, request, end, None)
                )
                if not isinstance(payload, dict):
                    raise DeliveryError(f"list_group_connections: unexpected answer from {state.name}")
                members.extend(m for m in payload.get("value", []) if isinstance(m, dict))
                next_link = payload.get("nextLink")
                if not next_link:
                    break
                request = next_page_request(first, str(next_link), state.base)
        return members

    async def invoke(
        self, connection_id: str, target: str, arguments: Sequence[Any] = (), *, hub: str | None = None
    ) -> Any:
        """Call ``target`` on one client and return its result (2024-12-01 ``:invoke``).

        Never retried once it may have reached the client, so the client method runs at most
        once. Tries each online endpoint until one knows the connection.
        """
        await self._ensure_started()
        request = invoke_request(connection_id, target, arguments, **self._names(hub))
        end = _deadline(None, None)
        results: list[EndpointResult] = []
        for state in self._targets() + [s for s in self._states if s not in self._targets()]:
            result = await self._deliver_to(state, state.rest, request, end, None)
            if result.outcome is Outcome.DELIVERED:
                payload = result.verdict.payload
                return payload.get("result") if isinstance(payload, dict) else None
            results.append(result)
            if result.outcome is not Outcome.BENIGN and result.verdict.reason != "not-found":
                break
        DeliveryResult.combine(request, results).raise_for_outcome()
        raise DeliveryError(f"invoke: connection {connection_id!r} is on no endpoint")

    async def check_health(self) -> dict[str, bool]:
        """Probe every endpoint now (REST: ``HEAD /api/health``; persistent: a connection is up)."""
        await self._ensure_started()
        await asyncio.gather(*(self._probe(s) for s in self._states))
        return {s.name: s.health.online for s in self._states}

    def endpoint_status(self) -> dict[str, dict[str, object]]:
        """Snapshot for status pages and metrics: role, online, throttle state per endpoint."""
        return {
            s.name: {
                "role": str(s.endpoint.role),
                "online": s.health.online,
                "consecutive_failures": s.health.consecutive_failures,
                "transport": s.transport.kind,
                **(s.transport.status() if isinstance(s.transport, PersistentTransport) else {}),
                "concurrency_limit": s.limiter.limit,
                "in_flight": s.limiter.in_flight,
                "paused_for": s.limiter.paused_for(),
            }
            for s in self._states
        }

    # --- internals -----------------------------------------------------------------------------

    async def _ensure_started(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed")
        if not self._started:
            await self.start()

    def _pick(self, name: str | None) -> _EndpointState:
        if name is not None:
            for state in self._states:
                if state.name == name:
                    return state
            raise ValueError(f"no endpoint named {name!r}")
        return self._targets()[0]

    def _payload(self, request: RestRequest, result: EndpointResult) -> Any:
        if result.outcome is not Outcome.DELIVERED:
            DeliveryResult.combine(request, [result]).raise_for_outcome()
        return result.verdict.payload

    def _names(self, hub: str | None) -> _Names:
        return {"hub": hub or self.hub, "api_version": self.api_version, "application": self.application}

    async def _check(self, request: RestRequest) -> bool:
        """True when any endpoint says yes: clients are spread over the endpoints."""
        await self._ensure_started()
        end = _deadline(None, None)
        results = await asyncio.gather(
            *(self._deliver_to(s, s.rest, request, end, None) for s in self._states)
        )
        if any(r.outcome is Outcome.DELIVERED for r in results):
            return True
        if all(r.outcome is Outcome.BENIGN for r in results):
            return False
        DeliveryResult.combine(request, list(results)).raise_for_outcome()
        return False

    def _targets(self) -> list[_EndpointState]:
        primary, secondary = EndpointRole.PRIMARY, EndpointRole.SECONDARY
        primaries = [(s, s.health.online) for s in self._states if s.endpoint.role is primary]
        secondaries = [(s, s.health.online) for s in self._states if s.endpoint.role is secondary]
        return choose_targets(primaries, secondaries)

    async def _stand_in(
        self,
        job: _Job,
        states: list[_EndpointState],
        results: list[EndpointResult],
        end: float,
        key: Hashable | None,
    ) -> list[EndpointResult]:
        """A primary that went down during this delivery gets an online secondary in its place."""
        if all(r.outcome is not Outcome.FAILED_TRANSIENT for r in results):
            return results  # the common case: nothing to stand in for
        used = {s.name for s in states}
        spare = [
            s
            for s in self._states
            if s.endpoint.role is EndpointRole.SECONDARY and s.health.online and s.name not in used
        ]
        final: list[EndpointResult] = []
        for state, result in zip(states, results, strict=True):
            if (
                result.outcome is Outcome.FAILED_TRANSIENT
                and state.endpoint.role is EndpointRole.PRIMARY
                and not state.health.online
                and spare
                and time.monotonic() < end
            ):
                standby = spare.pop(0)
                stand_in = replace(
                    await self._deliver_to(standby, *job(standby), end, key), stand_in_for=state.name
                )
                replaced = replace(result, replaced_by=standby.name) if stand_in.ok else result
                final += [replaced, stand_in]
            else:
                final.append(result)
        return final

    async def _deliver_to(
        self, state: _EndpointState, transport: Transport, prepared: Any, end: float, key: Hashable | None
    ) -> EndpointResult:
        started = time.monotonic()
        budget_end = min(end, started + self.retry.max_elapsed)
        operation = getattr(prepared, "operation", "")
        # The adaptive limiter answers 429s, which only REST gets; persistent flow control is the socket's.
        limiter = state.limiter if transport is state.rest else None
        attempts = 0
        reauthenticated = False
        verdict = Verdict(Outcome.FAILED_TRANSIENT, "deadline")
        while True:
            if limiter is not None:
                try:
                    await limiter.acquire(budget_end)
                except TimeoutError:
                    reason = "throttled" if limiter.paused_for() > 0 else "deadline"
                    return self._exhausted(state, verdict, reason, attempts, started)
            attempts += 1
            sent = time.monotonic()
            try:
                verdict = await transport.attempt(prepared, key=key, remaining=budget_end - sent)
            finally:
                if limiter is not None:
                    limiter.release()
            self._observer.on_attempt(state.name, operation, verdict, time.monotonic() - sent)
            if not transport.manages_health:
                self._record_health(state, verdict)
            if verdict.outcome is not Outcome.RETRY:
                if limiter is not None and verdict.outcome is Outcome.DELIVERED:
                    limiter.on_success()
                return _endpoint_result(state, verdict, verdict.outcome, attempts, started)
            delay = self.retry.backoff(attempts)
            if verdict.status == 429 and limiter is not None:
                pause = limiter.on_throttled(verdict.retry_after)
                self._observer.on_throttled(state.name, limiter.limit, pause)
                if pause > self.retry.max_retry_after:
                    return self._exhausted(state, verdict, "throttled", attempts, started)
                delay = 0.0  # the endpoint-wide pause in the limiter does the waiting
            elif verdict.reauthenticate:
                if reauthenticated:
                    return _endpoint_result(state, verdict, Outcome.FAILED_PERMANENT, attempts, started)
                reauthenticated = True  # the transport dropped its token; the next attempt mints one
                delay = 0.0
            elif verdict.retry_after is not None:
                delay = max(delay, verdict.retry_after)
            if attempts >= self.retry.max_attempts:
                return self._exhausted(state, verdict, "attempts", attempts, started)
            if time.monotonic() + delay >= budget_end:
                return self._exhausted(state, verdict, "deadline", attempts, started)
            self._observer.on_retry(state.name, operation, verdict, delay)
            if delay > 0:
                await asyncio.sleep(delay)

    def _record_health(self, state: _EndpointState, verdict: Verdict) -> None:
        healthy = verdict.reason not in UNHEALTHY_REASONS
        if state.health.record(healthy):
            self._observer.on_endpoint_health(state.name, state.health.online, verdict.describe())

    def _set_health(self, state: _EndpointState, online: bool, reason: str) -> None:
        """A transport that knows its state (connections up or not) says so."""
        flipped = state.health.record(True) if online else state.health.force_offline()
        if flipped:
            self._observer.on_endpoint_health(state.name, state.health.online, reason)

    def _exhausted(
        self, state: _EndpointState, last: Verdict, why: str, attempts: int, started: float
    ) -> EndpointResult:
        verdict = Verdict(
            Outcome.FAILED_TRANSIENT,
            last.reason if attempts else why,
            last.status,
            last.error_code,
            last.retry_after,
        )
        return _endpoint_result(state, verdict, Outcome.FAILED_TRANSIENT, attempts, started)

    async def _probe(self, state: _EndpointState) -> None:
        verdict = await state.transport.probe()
        if state.transport.manages_health:
            self._set_health(state, verdict.outcome is Outcome.DELIVERED, verdict.describe())
            return
        healthy = verdict.outcome is Outcome.DELIVERED
        flipped = state.health.record(True) if healthy else state.health.force_offline()
        if flipped:
            reason = f"health probe: {verdict.describe()}"
            self._observer.on_endpoint_health(state.name, state.health.online, reason)

    async def _probe_loop(self, interval: float) -> None:
        while True:
            await asyncio.gather(*(self._probe(s) for s in self._states), return_exceptions=True)
            await asyncio.sleep(interval)


def _endpoint_result(
    state: _EndpointState, verdict: Verdict, outcome: Outcome, attempts: int, started: float
) -> EndpointResult:
    return EndpointResult(
        endpoint=state.name,
        role=str(state.endpoint.role),
        outcome=outcome,
        verdict=verdict,
        attempts=attempts,
        seconds=time.monotonic() - started,
    )


def _deadline(deadline: float | None, within: float | None) -> float:
    end = math.inf if deadline is None else deadline
    if within is not None:
        end = min(end, time.monotonic() + within)
    return end


def _as_endpoints(value: Sequence[Endpoint] | Endpoint | ConnectionString | str) -> list[Endpoint]:
    if isinstance(value, str):
        return [Endpoint(connection=parse_connection_string(value))]
    if isinstance(value, ConnectionString):
        return [Endpoint(connection=value)]
    if isinstance(value, Endpoint):
        return [value]
    endpoints = list(value)
    if not endpoints:
        raise ValueError("at least one endpoint is required")
    return endpoints
