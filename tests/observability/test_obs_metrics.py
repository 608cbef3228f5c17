"""The metrics a scraper sees on a live /metrics, and how pipeline calls move them."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge import __version__
from bridge.observability import BridgeMetrics, Outcome
from bridge.observability import metrics as m
from bridge.observability.metrics import METRIC_NAMES, series_names

pytestmark = pytest.mark.unit


async def test_live_metrics_endpoint_exports_every_documented_name(http: httpx.AsyncClient) -> None:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    exported = series_names(response.text)
    assert exported >= METRIC_NAMES, f"documented but not exported: {sorted(METRIC_NAMES - exported)}"
    # The process collectors are there too, as on the default registry.
    assert "process_resident_memory_bytes" in exported


async def test_every_exported_bridge_metric_is_documented(http: httpx.AsyncClient) -> None:
    text = (await http.get("/metrics")).text
    ours = {
        name for name in series_names(text) if name.startswith(m.PREFIX) and not name.endswith("_created")
    }
    assert ours <= METRIC_NAMES, f"exported but not in METRIC_NAMES: {sorted(ours - METRIC_NAMES)}"


async def test_openmetrics_is_served_when_asked(http: httpx.AsyncClient) -> None:
    response = await http.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


async def test_scrapes_are_gzipped_when_the_scraper_accepts_it(http: httpx.AsyncClient) -> None:
    # Prometheus sends Accept-Encoding: gzip; a large registry is a fraction of the size compressed.
    zipped = await http.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(zipped.content) / 2  # httpx has unzipped it
    assert m.BUILD_INFO in series_names(zipped.text)

    plain = await http.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert series_names(plain.text) == series_names(zipped.text)


async def test_openmetrics_and_gzip_together(http: httpx.AsyncClient) -> None:
    response = await http.get(
        "/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"},
    )
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


async def test_pipeline_events_show_up_in_the_scrape(metrics: BridgeMetrics, http: httpx.AsyncClient) -> None:
    metrics.record_consumed("orders")
    metrics.record_consumed("orders")
    metrics.record_skipped("orders")
    metrics.delivery_finished(Outcome.DELIVERED, "ok", 0.02)
    metrics.delivery_finished(Outcome.FAILED, "bad_request", 0.5)
    metrics.delivery_retried("throttled")
    metrics.dead_lettered("bad_request")
    metrics.set_consumer_lag("orders", 3, 42)
    metrics.set_endpoint_up("https://a.service.signalr.net", True)
    metrics.offsets_committed()

    text = (await http.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[(m.RECORDS_CONSUMED, (("topic", "orders"),))] == 2
    assert samples[(m.RECORDS_SKIPPED, (("topic", "orders"),))] == 1
    assert samples[(m.DELIVERIES, (("outcome", "delivered"), ("reason", "ok")))] == 1
    assert samples[(m.DELIVERIES, (("outcome", "failed"), ("reason", "bad_request")))] == 1
    assert samples[(m.DELIVERY_RETRIES, (("reason", "throttled"),))] == 1
    assert samples[(m.DEAD_LETTERED, (("reason", "bad_request"),))] == 1
    assert samples[(m.CONSUMER_LAG, (("partition", "3"), ("topic", "orders")))] == 42
    assert samples[(m.ENDPOINT_UP, (("endpoint", "https://a.service.signalr.net"),))] == 1
    assert samples[(m.OFFSET_COMMITS, ())] == 1
    assert samples[(f"{m.DELIVERY_DURATION}_count", ())] == 2
    assert samples[(m.BUILD_INFO, (("version", __version__),))] == 1


def test_unknown_reasons_collapse_to_other_so_cardinality_stays_bounded(metrics: BridgeMetrics) -> None:
    for i in range(50):
        metrics.delivery_retried(f"HTTP 5{i:02d} from upstream")
        metrics.dead_lettered(f"user-{i}")
    reg = metrics.registry
    assert reg.get_sample_value(m.DELIVERY_RETRIES, {"reason": "other"}) == 50
    assert reg.get_sample_value(m.DEAD_LETTERED, {"reason": "other"}) == 50
    reasons = {
        s.labels["reason"]
        for f in reg.collect()
        if f.name == m.DEAD_LETTERED[: -len("_total")]
        for s in f.samples
    }
    assert reasons == {"other"}


def test_starting_series_exist_at_zero_so_rates_work_from_the_first_scrape(metrics: BridgeMetrics) -> None:
    value = metrics.registry.get_sample_value(m.DELIVERIES, {"outcome": "delivered", "reason": "ok"})
    assert value == 0


def test_in_flight_returns_to_zero_even_when_the_delivery_raises(metrics: BridgeMetrics) -> None:
    reg = metrics.registry
    with metrics.in_flight(), metrics.in_flight():
        assert reg.get_sample_value(m.DELIVERIES_IN_FLIGHT) == 2
    with pytest.raises(RuntimeError), metrics.in_flight():
        raise RuntimeError("delivery blew up")
    assert reg.get_sample_value(m.DELIVERIES_IN_FLIGHT) == 0


def test_end_to_end_latency_uses_the_record_timestamp_and_clamps_future_ones(metrics: BridgeMetrics) -> None:
    reg = metrics.registry
    metrics.observe_end_to_end(record_timestamp_seconds=1000.0, now=1007.0)
    metrics.observe_end_to_end(record_timestamp_seconds=2000.0, now=1990.0)  # producer clock ahead
    name = m.END_TO_END_LATENCY
    assert reg.get_sample_value(f"{name}_sum") == 7.0
    assert reg.get_sample_value(f"{name}_bucket", {"le": "5.0"}) == 1  # only the clamped one
    assert reg.get_sample_value(f"{name}_bucket", {"le": "10.0"}) == 2


def test_a_revoked_partition_stops_reporting_lag(metrics: BridgeMetrics) -> None:
    reg = metrics.registry
    metrics.set_consumer_lag("orders", 0, 10)
    metrics.set_consumer_lag("orders", 1, -5)  # position past a stale high watermark
    assert reg.get_sample_value(m.CONSUMER_LAG, {"topic": "orders", "partition": "1"}) == 0
    metrics.forget_partition("orders", 0)
    metrics.forget_partition("orders", 0)  # twice is harmless
    assert reg.get_sample_value(m.CONSUMER_LAG, {"topic": "orders", "partition": "0"}) is None


def test_each_instance_has_its_own_registry() -> None:
    a, b = BridgeMetrics(), BridgeMetrics()
    a.record_consumed("t")
    assert a.registry.get_sample_value(m.RECORDS_CONSUMED, {"topic": "t"}) == 1
    assert b.registry.get_sample_value(m.RECORDS_CONSUMED, {"topic": "t"}) is None


def test_every_configured_failure_reason_is_a_metric_reason() -> None:
    # Dead-letter reasons come from the config's vocabulary; none may collapse into "other".
    from typing import get_args

    from bridge.config.schema import FailureReason

    assert set(get_args(FailureReason)) <= m.REASONS


def test_client_reasons_with_hyphens_keep_their_meaning(metrics: BridgeMetrics) -> None:
    # The SignalR client writes reasons like "server-error"; Prometheus labels use underscores.
    metrics.delivery_retried("server-error")
    metrics.delivery_retried("server_error")
    metrics.delivery_finished(Outcome.BENIGN, "already-so", 0.01)
    reg = metrics.registry
    assert reg.get_sample_value(m.DELIVERY_RETRIES, {"reason": "server_error"}) == 2
    assert reg.get_sample_value(m.DELIVERIES, {"outcome": "benign", "reason": "already_so"}) == 1
