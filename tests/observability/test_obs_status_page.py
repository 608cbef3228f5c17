"""/status.json and the page's assets, as the live page and scripts read them."""

from __future__ import annotations

import httpx
import pytest

from bridge.observability import BridgeMetrics, HealthState, Outcome

pytestmark = pytest.mark.unit


async def test_status_json_reports_routes_failures_endpoints_and_lag(
    metrics: BridgeMetrics, health: HealthState, http: httpx.AsyncClient
) -> None:
    metrics.declare_routes(
        ["rooms", "alerts"], ["chat"], dead_lettered=["decode_error"], dropped=["rejected"]
    )
    metrics.record_consumed("chat")
    metrics.record_consumed("chat")
    metrics.record_skipped("chat")
    metrics.delivery_finished(Outcome.DELIVERED, "ok", 0.01, route="rooms")
    metrics.delivery_finished(Outcome.FAILED, "bad_request", 0.01, route="alerts")
    metrics.record_dropped("rejected", "alerts", detail="400 from the service", source="chat[0]@9")
    metrics.dead_lettered("decode_error", "rooms", detail="not JSON", source="chat[1]@3")
    metrics.set_consumer_lag("chat", 1, 5)
    health.set_endpoint_up("a.service.signalr.net", True)

    response = await http.get("/status.json")
    assert response.headers["cache-control"] == "no-store"
    status = response.json()
    assert (status["live"], status["ready"], status["reasons"]) == (True, False, ["consumer not running"])
    assert status["routes"] == [
        {"name": "rooms", "delivered": 1, "benign": 0, "failed": 0, "dead_lettered": 1, "dropped": 0},
        {"name": "alerts", "delivered": 0, "benign": 0, "failed": 1, "dead_lettered": 0, "dropped": 1},
    ]
    assert status["topics"] == [{"topic": "chat", "consumed": 2, "skipped": 1}]
    assert (status["dead_lettered"], status["dropped"]) == ({"decode_error": 1}, {"rejected": 1})
    assert [(f["reason"], f["source"], f["dead_lettered"]) for f in status["recent_failures"]] == [
        ("decode_error", "chat[1]@3", True),
        ("rejected", "chat[0]@9", False),
    ]
    assert status["endpoints"] == [{"name": "a.service.signalr.net", "up": True}]
    assert status["lag"] == [{"topic": "chat", "partition": 1, "records": 5}]


@pytest.mark.parametrize(
    ("path", "media_type", "marker"),
    [("/", "text/html", "<title>signalr-bridge</title>"), ("/status.js", "text/javascript", "status.json")],
)
async def test_the_page_is_served_with_a_strict_content_security_policy(
    http: httpx.AsyncClient, path: str, media_type: str, marker: str
) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert marker in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
