"""Every Prometheus metric the bridge exports, created in one place.

Names follow the Prometheus naming guide: one ``signalr_bridge_`` prefix, base
units (seconds), counters end in ``_total``. The alert rules, the Grafana
dashboard and the tests are checked against :data:`METRIC_NAMES`, so a rename
here that is not carried over there fails CI.

Deliberate choices (the daemon issue left them open):

* ``deliveries_total`` counts one *final* outcome per action, not one per HTTP
  attempt. ``outcome`` is ``delivered`` (2xx), ``benign`` (a refusal that means
  the goal already holds, e.g. 404 when removing a user from a group) or
  ``failed`` (given up: dead-lettered or dropped). Retries are counted apart
  in ``delivery_retries_total``, so the failure ratio is
  ``failed / (delivered + benign + failed)`` and a retry that later succeeds is
  never counted as a failure.
* ``reason`` comes from the fixed set :data:`REASONS`; anything else is
  recorded as ``other`` so a bug cannot explode label cardinality.
* Label values never carry user ids, group names, connection ids or keys:
  ``topic``, ``route`` and ``endpoint`` come from the configuration,
  ``partition`` is bounded by the topic's partition count. ``route`` is empty
  for a failure no route owns (an internal error before routing).
* A record that fails for good is either dead-lettered
  (``dead_lettered_total``) or, without a dead-letter topic for its reason,
  logged and skipped (``records_dropped_total``): every failure is counted.
* Series of the configured routes and topics exist at 0 from the start
  (:meth:`BridgeMetrics.declare_routes`), so ``rate()`` and ``increase()`` see
  the first event, and no ``_created`` series are exported (they double the
  series count and no query here uses them).
* Names say what they count, in the guide's words: ``deliveries_in_flight``
  (not a bare ``in_flight``), ``delivery_duration_seconds`` (request timing is
  a duration; ``end_to_end_latency_seconds`` keeps "latency" because it spans
  queueing), ``consumer_lag_records`` (the unit) and ``offset_commits_total``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    gc_collector,
    platform_collector,
    process_collector,
)
from prometheus_client.parser import text_string_to_metric_families

from bridge import __version__
from bridge.observability.recent import RecentFailures

PREFIX: Final = "signalr_bridge"

# Process-wide in prometheus_client; read at collection time, so this covers every registry.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Outcome(StrEnum):
    """Final result of delivering one action."""

    DELIVERED = "delivered"
    BENIGN = "benign"
    FAILED = "failed"


class Reason(StrEnum):
    """Why a delivery ended the way it did, or why it was retried or dead-lettered.

    Delivery values are the SignalR client's verdict reasons (``bridge.signalr.outcome``,
    hyphens written as underscores); routing and dead-letter values are the config's
    ``dead_letter.reasons`` (``bridge.config.schema.FailureReason``).
    """

    OK = "ok"
    # delivery: the service's answer or the transport's failure
    ALREADY_SO = "already_so"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    BAD_ANSWER = "bad_answer"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    AUTH_UNAVAILABLE = "auth_unavailable"
    NO_SUCH_ROUTE = "no_such_route"
    TOO_LARGE = "too_large"
    PREFLIGHT = "preflight"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    REQUEST_TIMEOUT = "request_timeout"
    TIMEOUT = "timeout"
    CONNECT_FAILED = "connect_failed"
    CONNECTION_LOST = "connection_lost"
    TRANSPORT_ERROR = "transport_error"
    AMBIGUOUS = "ambiguous"
    DEADLINE = "deadline"
    # routing and dead-lettering
    DECODE_ERROR = "decode_error"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    EXPRESSION_ERROR = "expression_error"
    FANOUT_LIMIT = "fanout_limit"
    REJECTED = "rejected"
    RETRIES_EXHAUSTED = "retries_exhausted"
    OTHER = "other"


REASONS: Final = frozenset(r.value for r in Reason)

# Metric names as Prometheus stores them (counters with their _total suffix).
RECORDS_CONSUMED: Final = f"{PREFIX}_records_consumed_total"
RECORDS_SKIPPED: Final = f"{PREFIX}_records_skipped_total"
DELIVERIES: Final = f"{PREFIX}_deliveries_total"
DELIVERY_RETRIES: Final = f"{PREFIX}_delivery_retries_total"
DEAD_LETTERED: Final = f"{PREFIX}_dead_lettered_total"
RECORDS_DROPPED: Final = f"{PREFIX}_records_dropped_total"
DELIVERIES_IN_FLIGHT: Final = f"{PREFIX}_deliveries_in_flight"
DELIVERY_DURATION: Final = f"{PREFIX}_delivery_duration_seconds"
END_TO_END_LATENCY: Final = f"{PREFIX}_end_to_end_latency_seconds"
CONSUMER_LAG: Final = f"{PREFIX}_consumer_lag_records"
ENDPOINT_UP: Final = f"{PREFIX}_endpoint_up"
OFFSET_COMMITS: Final = f"{PREFIX}_offset_commits_total"
BUILD_INFO: Final = f"{PREFIX}_build_info"
# Persistent transport (server connections).
SERVER_CONNECTIONS_UP: Final = f"{PREFIX}_server_connections_up"
SERVER_RECONNECTS: Final = f"{PREFIX}_server_reconnects_total"
MESSAGES_PER_FRAME: Final = f"{PREFIX}_server_messages_per_frame"
BARRIER_ROUND_TRIP: Final = f"{PREFIX}_barrier_round_trip_seconds"
UNCONFIRMED_MESSAGES: Final = f"{PREFIX}_unconfirmed_messages"
UPSTREAM_REQUESTS: Final = f"{PREFIX}_upstream_requests_total"
UPSTREAM_IN_FLIGHT: Final = f"{PREFIX}_upstream_requests_in_flight"
UPSTREAM_SIGNATURE_FAILURES: Final = f"{PREFIX}_upstream_signature_failures_total"
UPSTREAM_PRODUCE_DURATION: Final = f"{PREFIX}_upstream_produce_duration_seconds"
UPSTREAM_KAFKA_UP: Final = f"{PREFIX}_upstream_kafka_up"

# Every series name a query may use, histogram sub-series included.
METRIC_NAMES: Final = frozenset(
    {
        RECORDS_CONSUMED,
        RECORDS_SKIPPED,
        DELIVERIES,
        DELIVERY_RETRIES,
        DEAD_LETTERED,
        RECORDS_DROPPED,
        DELIVERIES_IN_FLIGHT,
        CONSUMER_LAG,
        ENDPOINT_UP,
        OFFSET_COMMITS,
        BUILD_INFO,
        SERVER_CONNECTIONS_UP,
        SERVER_RECONNECTS,
        UNCONFIRMED_MESSAGES,
        UPSTREAM_REQUESTS,
        UPSTREAM_IN_FLIGHT,
        UPSTREAM_SIGNATURE_FAILURES,
        UPSTREAM_KAFKA_UP,
        *(
            f"{h}_{s}"
            for h in (
                DELIVERY_DURATION,
                END_TO_END_LATENCY,
                MESSAGES_PER_FRAME,
                BARRIER_ROUND_TRIP,
                UPSTREAM_PRODUCE_DURATION,
            )
            for s in ("bucket", "sum", "count")
        ),
    }
)


class UpstreamOutcome(StrEnum):
    """How the upstream receiver answered one request (``upstream_requests_total{outcome}``)."""

    PRODUCED = "produced"  # 200/204: every matching route's record is in Kafka
    SKIPPED = "skipped"  # 204: routes matched, their filters said no
    UNROUTED = "unrouted"  # 404: no route for this hub/category/event
    UNAUTHORIZED = "unauthorized"  # 401: missing or wrong signature
    BAD_REQUEST = "bad_request"  # 400: malformed request, or a route could not build its record
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # 415
    TOO_LARGE = "too_large"  # 413: body over upstream.max_body_bytes, or Kafka refused the record's size
    UNAVAILABLE = "unavailable"  # 503: Kafka did not confirm in time or is unreachable
    OVERLOADED = "overloaded"  # 503: upstream.max_in_flight reached, or draining


# REST calls: milliseconds to the 10 s client timeout and a little beyond.
DELIVERY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Record timestamp to accepted: includes lag, so it reaches into minutes.
END_TO_END_BUCKETS: Final = (
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)


# Service messages per WebSocket message: 1 when idle, hundreds under load.
FRAME_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# A barrier's ack: a network round trip plus the service's read; the ack timeout is 10 s.
BARRIER_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

_SERIES_SUFFIXES: Final = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
    "info": ("_info",),
}


def series_names(exposition_text: str) -> set[str]:
    """Every series name a query could select from a text exposition, empty label families included."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition_text):
        names.update(f"{family.name}{suffix}" for suffix in _SERIES_SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def bounded_reason(reason: str) -> str:
    """``reason`` as a label value: hyphens become underscores, anything unknown becomes ``other``."""
    label = reason.replace("-", "_")
    return label if label in REASONS else Reason.OTHER.value


# Delivery series every route starts with, so rate() works before the first event.
_STARTING_DELIVERIES: Final = (
    (Outcome.DELIVERED, Reason.OK.value),
    (Outcome.BENIGN, Reason.ALREADY_SO.value),
    (Outcome.FAILED, Reason.RETRIES_EXHAUSTED.value),
)


def _strip_total(name: str) -> str:
    # prometheus_client adds the _total suffix itself.
    return name.removesuffix("_total")


class BridgeMetrics:
    """The bridge's metrics on their own registry (tests create many).

    ``process_metrics=True`` also registers the process, platform and GC
    collectors on this registry, as the default registry would have them.
    :attr:`recent_failures` keeps the last failed records for the status page.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.recent_failures = RecentFailures()
        reg = self.registry
        if process_metrics:
            process_collector.ProcessCollector(registry=reg)
            platform_collector.PlatformCollector(registry=reg)
            gc_collector.GCCollector(registry=reg)
        self._consumed = Counter(
            _strip_total(RECORDS_CONSUMED), "Kafka records consumed.", ["topic"], registry=reg
        )
        self._skipped = Counter(
            _strip_total(RECORDS_SKIPPED), "Records that matched no route.", ["topic"], registry=reg
        )
        self._deliveries = Counter(
            _strip_total(DELIVERIES),
            "SignalR actions by route, final outcome (delivered, benign, failed) and reason.",
            ["route", "outcome", "reason"],
            registry=reg,
        )
        self._retries = Counter(
            _strip_total(DELIVERY_RETRIES),
            "SignalR delivery attempts that were retried.",
            ["reason"],
            registry=reg,
        )
        self._dead_lettered = Counter(
            _strip_total(DEAD_LETTERED),
            "Records written to the dead-letter topic, by route and reason.",
            ["route", "reason"],
            registry=reg,
        )
        self._dropped = Counter(
            _strip_total(RECORDS_DROPPED),
            "Records that failed for good and were logged and skipped, not dead-lettered "
            "(no dead_letter.topic, or the reason is not in dead_letter.reasons).",
            ["route", "reason"],
            registry=reg,
        )
        self._in_flight = Gauge(DELIVERIES_IN_FLIGHT, "SignalR deliveries in progress.", registry=reg)
        self._delivery_duration = Histogram(
            DELIVERY_DURATION,
            "Time to deliver one action to SignalR, retries included.",
            buckets=DELIVERY_BUCKETS,
            registry=reg,
        )
        self._end_to_end = Histogram(
            END_TO_END_LATENCY,
            "Kafka record timestamp to SignalR accepting the action.",
            buckets=END_TO_END_BUCKETS,
            registry=reg,
        )
        self._lag = Gauge(
            CONSUMER_LAG,
            "Records behind the partition's high watermark.",
            ["topic", "partition"],
            registry=reg,
        )
        self._endpoint_up = Gauge(
            ENDPOINT_UP, "1 while the SignalR endpoint accepts requests, else 0.", ["endpoint"], registry=reg
        )
        self._commits = Counter(_strip_total(OFFSET_COMMITS), "Kafka offset commits.", registry=reg)
        self._server_up = Gauge(
            SERVER_CONNECTIONS_UP,
            "Persistent server connections open to the endpoint.",
            ["endpoint"],
            registry=reg,
        )
        self._reconnects = Counter(
            _strip_total(SERVER_RECONNECTS),
            "Persistent server connections opened again after a failure or drop.",
            ["endpoint"],
            registry=reg,
        )
        self._per_frame = Histogram(
            MESSAGES_PER_FRAME,
            "Service messages (sends, group actions, barriers) per WebSocket message written.",
            buckets=FRAME_BUCKETS,
            registry=reg,
        )
        self._barrier_rtt = Histogram(
            BARRIER_ROUND_TRIP,
            "Writing an acked message (a barrier or group action) to receiving its ack.",
            buckets=BARRIER_BUCKETS,
            registry=reg,
        )
        self._unconfirmed = Gauge(
            UNCONFIRMED_MESSAGES,
            "Sends written to the endpoint and not yet confirmed by an ack.",
            ["endpoint"],
            registry=reg,
        )
        Info(BUILD_INFO.removesuffix("_info"), "Build information.", registry=reg).info(
            {"version": __version__}
        )
        self._upstream_requests = Counter(
            _strip_total(UPSTREAM_REQUESTS),
            "Upstream requests from the SignalR service by hub, category, event and outcome "
            "(hub and event are 'other' unless a route names them).",
            ["hub", "category", "event", "outcome"],
            registry=reg,
        )
        self._upstream_in_flight = Gauge(UPSTREAM_IN_FLIGHT, "Upstream requests being handled.", registry=reg)
        self._signature_failures = Counter(
            _strip_total(UPSTREAM_SIGNATURE_FAILURES),
            "Upstream requests refused for a missing or wrong X-ASRS-Signature.",
            ["reason"],
            registry=reg,
        )
        self._produce_duration = Histogram(
            UPSTREAM_PRODUCE_DURATION,
            "Time from handing an upstream event's records to the producer to Kafka confirming them.",
            buckets=DELIVERY_BUCKETS,
            registry=reg,
        )
        self._upstream_kafka_up = Gauge(
            UPSTREAM_KAFKA_UP, "1 while Kafka takes the upstream receiver's writes, else 0.", registry=reg
        )
        self._consumed_by_topic: dict[str, Any] = {}
        self._deliveries_by_label: dict[tuple[str, Outcome, str], Any] = {}

    def declare_routes(
        self,
        routes: Iterable[str],
        topics: Iterable[str] = (),
        *,
        dead_lettered: Iterable[str] = (),
        dropped: Iterable[str] = (),
    ) -> None:
        """Create the series the configured routes and topics can move, at 0.

        ``dead_lettered`` and ``dropped`` are the failure reasons that go to the dead-letter
        topic and those that are skipped, as the ``dead_letter`` section decides.
        """
        for topic in topics:
            self._consumed_child(topic)
        dead_lettered, dropped = tuple(dead_lettered), tuple(dropped)
        for route in routes:
            for outcome, reason in _STARTING_DELIVERIES:
                self._deliveries_child(route, outcome, reason)
            for reason in dead_lettered:
                self._dead_lettered.labels(route=route, reason=bounded_reason(reason))
            for reason in dropped:
                self._dropped.labels(route=route, reason=bounded_reason(reason))

    # -- consuming -------------------------------------------------------

    def record_consumed(self, topic: str) -> None:
        self._consumed_child(topic).inc()

    def _consumed_child(self, topic: str) -> Any:
        # Label lookups cost more than the increment: children are cached per label value
        # (topics and reasons are bounded sets; partitions are not cached).
        child = self._consumed_by_topic.get(topic)
        if child is None:
            child = self._consumed_by_topic[topic] = self._consumed.labels(topic=topic)
            # The skipped series exists from the first record on, so "consumed - skipped" is defined.
            self._skipped.labels(topic=topic)
        return child

    def record_skipped(self, topic: str) -> None:
        self._skipped.labels(topic=topic).inc()

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        self._lag.labels(topic=topic, partition=str(partition)).set(max(lag, 0))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop a revoked partition's lag series so it does not linger at its last value."""
        try:
            self._lag.remove(topic, str(partition))
        except KeyError:
            return

    def offsets_committed(self) -> None:
        self._commits.inc()

    # -- delivering ------------------------------------------------------

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count the enclosed delivery as in flight."""
        with self._in_flight.track_inprogress():
            yield

    def delivery_finished(
        self, outcome: Outcome, reason: str, duration_seconds: float, *, route: str
    ) -> None:
        self._deliveries_child(route, outcome, reason).inc()
        self._delivery_duration.observe(max(duration_seconds, 0.0))

    def _deliveries_child(self, route: str, outcome: Outcome, reason: str) -> Any:
        key = (route, outcome, reason)
        child = self._deliveries_by_label.get(key)
        if child is None:
            child = self._deliveries.labels(route=route, outcome=outcome.value, reason=bounded_reason(reason))
            self._deliveries_by_label[key] = child
        return child

    def delivery_retried(self, reason: str) -> None:
        self._retries.labels(reason=bounded_reason(reason)).inc()

    def dead_lettered(self, reason: str, route: str | None, *, detail: str = "", source: str = "") -> None:
        """A failed record was written to the dead-letter topic."""
        self._dead_lettered.labels(route=route or "", reason=bounded_reason(reason)).inc()
        self.recent_failures.add(route, reason, detail, source, dead_lettered=True)

    def record_dropped(self, reason: str, route: str | None, *, detail: str = "", source: str = "") -> None:
        """A failed record was logged and skipped: the config sends its reason to no dead-letter topic."""
        self._dropped.labels(route=route or "", reason=bounded_reason(reason)).inc()
        self.recent_failures.add(route, reason, detail, source, dead_lettered=False)

    def observe_end_to_end(self, record_timestamp_seconds: float, now: float | None = None) -> None:
        """Observe record timestamp to acceptance; a clock skew into the future counts as 0."""
        accepted = time.time() if now is None else now
        self._end_to_end.observe(max(accepted - record_timestamp_seconds, 0.0))

    def set_endpoint_up(self, endpoint: str, up: bool) -> None:
        self._endpoint_up.labels(endpoint=endpoint).set(1 if up else 0)

    # -- persistent transport ----------------------------------------------

    def server_connections(self, endpoint: str, up: int, reconnected: bool) -> None:
        self._server_up.labels(endpoint=endpoint).set(up)
        if reconnected:
            self._reconnects.labels(endpoint=endpoint).inc()

    def frame_written(self, messages: int) -> None:
        self._per_frame.observe(messages)

    def barrier_confirmed(self, seconds: float) -> None:
        self._barrier_rtt.observe(max(seconds, 0.0))

    def set_unconfirmed(self, endpoint: str, count: int) -> None:
        self._unconfirmed.labels(endpoint=endpoint).set(count)

    # -- upstream (SignalR -> Kafka) ---------------------------------------

    def upstream_request(self, hub: str, category: str, event: str, outcome: UpstreamOutcome) -> None:
        """Count one answered request; label values must come from a bounded set (see InboundRouter)."""
        self._upstream_requests.labels(hub=hub, category=category, event=event, outcome=outcome.value).inc()

    @contextmanager
    def upstream_in_flight(self) -> Iterator[None]:
        with self._upstream_in_flight.track_inprogress():
            yield

    def upstream_signature_failed(self, reason: str) -> None:
        self._signature_failures.labels(reason=reason).inc()

    def observe_produce(self, duration_seconds: float) -> None:
        self._produce_duration.observe(max(duration_seconds, 0.0))

    def set_upstream_kafka_up(self, up: bool) -> None:
        self._upstream_kafka_up.set(1 if up else 0)
