"""The upstream receiver: the HTTP endpoint the service POSTs client events to (UPSTREAM.md).

One request, in order:

1. over ``max_in_flight`` requests or ``max_in_flight_bytes`` bytes, or draining → 503 at once;
2. ``X-ASRS-Signature`` checked against every AccessKey → 401, nothing produced;
3. body read (over ``max_body_bytes`` → 413) and parsed → 400 / 415;
4. inbound routes: none for this hub/category/event → 404; filters all false → 204;
   a route that cannot build its record → 400;
5. one record per route, written with ``acks=all``; answered only once Kafka confirmed them:
   204, or 200 with a framed Completion when the route has a ``result`` and the client called
   ``invoke()``. Kafka too slow or away → 503 so the service retries; record refused → 413.

The statuses follow the Functions SignalR trigger where it has one (401, 400, 404, 415), so the
service and its logs see what they would see from a Function. A non-2xx answer to ``invoke()``
becomes the client's error ``Invocation failed, status code N``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bridge.config.schema import BridgeConfig
from bridge.observability.health import HealthState
from bridge.observability.metrics import BridgeMetrics, UpstreamOutcome
from bridge.routing.errors import RoutingError
from bridge.routing.inbound import InboundRouter, InboundTarget, compile_inbound_routes

from . import protocol
from .envelope import build_envelope, encode_envelope
from .keys import access_keys
from .producer import InboundProducer, KafkaUnavailableError, OutgoingRecord, RecordRejectedError, Written
from .signature import SignatureCheck, SignatureVerifier

log = logging.getLogger(__name__)

# W3C trace context rides along into Kafka (issue 16 builds tracing on it).
PASSED_THROUGH_HEADERS = ("traceparent", "tracestate")
_SIGNATURE_LOG_INTERVAL = 60.0

_STATUS = {
    UpstreamOutcome.UNROUTED: 404,
    UpstreamOutcome.UNAUTHORIZED: 401,
    UpstreamOutcome.BAD_REQUEST: 400,
    UpstreamOutcome.UNSUPPORTED_MEDIA_TYPE: 415,
    UpstreamOutcome.TOO_LARGE: 413,
    UpstreamOutcome.UNAVAILABLE: 503,
    UpstreamOutcome.OVERLOADED: 503,
}


@dataclass(frozen=True, slots=True)
class _Answer:
    outcome: UpstreamOutcome
    message: str = ""
    body: bytes | None = None  # a framed Completion for invoke()

    def response(self) -> web.Response:
        if self.body is not None:
            return web.Response(status=200, body=self.body)
        if self.outcome in (UpstreamOutcome.PRODUCED, UpstreamOutcome.SKIPPED):
            return web.Response(status=204)
        status = _STATUS[self.outcome]
        headers = {"Retry-After": "1"} if status == 503 else None
        return web.json_response(
            {"reason": self.outcome.value, "message": self.message}, status=status, headers=headers
        )


class UpstreamReceiver:
    """Listens on ``upstream.host:port`` (HTTPS with ``upstream.tls``); ``start``/``stop`` are idempotent."""

    def __init__(
        self,
        config: BridgeConfig,
        *,
        metrics: BridgeMetrics,
        health: HealthState,
        router: InboundRouter | None = None,
        producer: InboundProducer | None = None,
        kafka_security: dict[str, Any] | None = None,
    ) -> None:
        if config.upstream is None:
            raise ValueError("the config has no upstream section")
        self._settings = config.upstream
        self._router = router or compile_inbound_routes(config)
        self._verifier = SignatureVerifier(access_keys(config))
        self._metrics = metrics
        self._health = health
        health.set_upstream_kafka(False, "connecting to Kafka")
        self.producer = producer or InboundProducer(
            config.kafka, security=kafka_security, on_available=health.set_upstream_kafka
        )
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._in_flight = 0
        self._bytes_in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False
        self._signature_failures = 0
        self._signature_logged_at = -_SIGNATURE_LOG_INTERVAL

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the upstream receiver is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL to put in the service's upstream URL template (``{url}/{hub}/{category}/{event}``)."""
        host = self._settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
        scheme = "https" if self._settings.tls else "http"
        return f"{scheme}://{host}:{self.port}{self._settings.path.rstrip('/')}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        await self.producer.start()
        app = web.Application(client_max_size=self._settings.max_body_bytes)
        path = self._settings.path.rstrip("/")
        app.router.add_post(path or "/", self._handle)
        app.router.add_post(path + "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._settings.host, self._settings.port, ssl_context=self._tls())
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self.producer.stop(wait_seconds=0)
            raise
        self._runner = runner
        self._port = next(int(a[1]) for a in runner.addresses if isinstance(a, tuple))
        log.info(
            "upstream receiver listening",
            extra={
                "url": self.url,
                "routes": len(self._router.routes),
                "topics": sorted(self._router.topics),
            },
        )

    async def stop(self, drain_timeout: float = 10.0) -> bool:
        """Refuse new requests (503), let those in flight finish, then close. True when none was cut off."""
        self._draining = True
        drained = True
        if self._in_flight:
            try:
                await asyncio.wait_for(self._idle.wait(), drain_timeout)
            except TimeoutError:
                drained = False
                log.warning("upstream drain deadline passed; %d requests cut off", self._in_flight)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.producer.stop(wait_seconds=drain_timeout)
        return drained

    def _tls(self) -> ssl.SSLContext | None:
        tls = self._settings.tls
        if tls is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        password = tls.key_password.get_secret_value() if tls.key_password else None
        context.load_cert_chain(tls.cert_file, tls.key_file, password)
        return context

    # -- requests ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        headers = request.headers
        labels = self._router.labels(
            headers.get(protocol.HUB, ""), headers.get(protocol.CATEGORY, ""), headers.get(protocol.EVENT, "")
        )
        size = request.content_length if request.content_length is not None else self._settings.max_body_bytes
        size = min(size, self._settings.max_body_bytes)
        if self._draining or not self._admit(size):
            answer = _Answer(
                UpstreamOutcome.OVERLOADED, "draining" if self._draining else "too many requests"
            )
        else:
            try:
                with self._metrics.upstream_in_flight():
                    answer = await self._answer(request)
            finally:
                self._release(size)
        self._metrics.upstream_request(*labels, answer.outcome)
        return answer.response()

    def _admit(self, size: int) -> bool:
        settings = self._settings
        if (
            self._in_flight >= settings.max_in_flight
            or self._bytes_in_flight + size > settings.max_in_flight_bytes
        ):
            return False
        self._in_flight += 1
        self._bytes_in_flight += size
        self._idle.clear()
        return True

    def _release(self, size: int) -> None:
        self._in_flight -= 1
        self._bytes_in_flight -= size
        if not self._in_flight:
            self._idle.set()

    async def _answer(self, request: web.Request) -> _Answer:
        headers = request.headers
        check = self._verifier.check(headers.get(protocol.SIGNATURE), headers.get(protocol.CONNECTION_ID, ""))
        if check is not SignatureCheck.OK:
            self._signature_failed(check, request)
            return _Answer(UpstreamOutcome.UNAUTHORIZED, "the signature does not match any AccessKey")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _Answer(
                UpstreamOutcome.TOO_LARGE, f"the body exceeds {self._settings.max_body_bytes} bytes"
            )
        try:
            event = protocol.parse_event(headers, body)
        except protocol.UpstreamRequestError as exc:
            return _Answer(UpstreamOutcome(exc.problem.value), str(exc))
        if not self._router.wants(event.hub, event.category, event.event):
            return _Answer(UpstreamOutcome.UNROUTED, "no inbound route for this hub, category and event")
        envelope = build_envelope(event)
        try:
            targets = self._router.route(envelope)
        except RoutingError as exc:
            return _Answer(UpstreamOutcome.BAD_REQUEST, f"{exc.reason}: {exc}")
        if not targets:
            return _Answer(UpstreamOutcome.SKIPPED)
        records = self._records(envelope, targets, request)
        started = time.perf_counter()
        try:
            written = await self.producer.produce(records, self._settings.produce_timeout_seconds)
        except KafkaUnavailableError as exc:
            return _Answer(UpstreamOutcome.UNAVAILABLE, str(exc))
        except RecordRejectedError as exc:
            return _Answer(UpstreamOutcome.TOO_LARGE, str(exc))
        self._metrics.observe_produce(time.perf_counter() - started)
        return _Answer(UpstreamOutcome.PRODUCED, body=self._completion(event, envelope, targets, written))

    def _records(
        self, envelope: dict[str, Any], targets: list[InboundTarget], request: web.Request
    ) -> list[OutgoingRecord]:
        value = encode_envelope(envelope)
        passed = [
            (name, request.headers[name].encode())
            for name in PASSED_THROUGH_HEADERS
            if name in request.headers
        ]
        base = [("content-type", b"application/json"), *passed]
        return [
            OutgoingRecord(
                topic=target.topic,
                key=target.key.encode(),
                value=value,
                headers=base + [(name, text.encode()) for name, text in target.headers],
                timestamp_ms=envelope["timestamp"],
            )
            for target in targets
        ]

    def _completion(
        self,
        event: protocol.UpstreamEvent,
        envelope: dict[str, Any],
        targets: list[InboundTarget],
        written: list[Written],
    ) -> bytes | None:
        """The body for ``invoke()``: None (204, the service sends an empty Completion) unless a route
        asks for a ``result``."""
        if event.invocation_id is None or event.protocol is None:
            return None
        for target, where in zip(targets, written, strict=True):
            if target.result is None:
                continue
            record = {"topic": where.topic, "partition": where.partition, "offset": where.offset}
            try:
                result = self._router.render_result(target, envelope, record)
            except RoutingError as exc:
                # The event is in Kafka; only its answer failed: the client gets an error, not a retry.
                log.warning("result of inbound route %r failed: %s", target.route, exc)
                return protocol.completion(event.protocol, event.invocation_id, error=f"{exc.reason}: {exc}")
            return protocol.completion(event.protocol, event.invocation_id, result=result)
        return None

    def _signature_failed(self, check: SignatureCheck, request: web.Request) -> None:
        self._metrics.upstream_signature_failed(check.value)
        self._signature_failures += 1
        now = time.monotonic()
        if now - self._signature_logged_at >= _SIGNATURE_LOG_INTERVAL:  # a flood must not flood the log
            log.warning(
                "upstream request refused (401): signature %s; %d refused since the last report",
                check.value,
                self._signature_failures,
                extra={"remote": request.remote},
            )
            self._signature_logged_at, self._signature_failures = now, 0
