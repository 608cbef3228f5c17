"""The live page on the observability port, in real headless chromium: what an operator sees."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from browser_support import Browser, text_contains

from bridge.observability import BridgeMetrics, HealthState, ObservabilityServer, Outcome

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=\"document.title='owned'\">"


@pytest.fixture
async def bridge_state() -> AsyncIterator[tuple[BridgeMetrics, HealthState, ObservabilityServer]]:
    metrics = BridgeMetrics()
    health = HealthState(metrics)
    metrics.declare_routes(["rooms", "alerts"], ["chat"], dead_lettered=["decode_error"], dropped=[])
    server = ObservabilityServer(metrics, health, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield metrics, health, server
    finally:
        await server.stop()


def cell(route: str, column: str) -> str:
    return f'#routes tr[data-key="{route}"] td.{column}'


async def test_the_page_follows_the_bridge_live(
    browser: Browser, bridge_state: tuple[BridgeMetrics, HealthState, ObservabilityServer]
) -> None:
    metrics, health, server = bridge_state
    await browser.open(server.url + "/")

    # Starting: every configured route is listed at zero, and the page says why it is not ready.
    await browser.wait_for(text_contains("#state", "not ready"))
    assert await browser.text("#routes td.name") == ["rooms", "alerts"]
    assert await browser.text(cell("rooms", "delivered")) == ["0"]
    assert "no SignalR endpoint up" in (await browser.text("#reasons"))[0]

    # Running: partitions assigned, the endpoint answers, records flow.
    health.set_consumer_running(True)
    health.set_endpoint_up("demo.service.signalr.net", True)
    metrics.set_consumer_lag("chat", 0, 0)
    metrics.set_consumer_lag("chat", 1, 42)
    for _ in range(3):
        metrics.record_consumed("chat")
        metrics.delivery_finished(Outcome.DELIVERED, "ok", 0.01, route="rooms")
    await browser.wait_for(text_contains("#state", "ready") + " && !" + text_contains("#state", "not"))
    await browser.wait_for(text_contains(cell("rooms", "delivered"), "3"))
    assert await browser.text('#endpoints tr[data-key="demo.service.signalr.net"] td') == [
        "demo.service.signalr.net",
        "up",
    ]
    assert await browser.text('#lag tr[data-key="chat[1]"] td') == ["chat", "1", "42"]
    assert await browser.text('#topics tr[data-key="chat"] td.consumed') == ["3"]
    # Deliveries keep coming: the rate is computed from the page's own successive polls.
    for _ in range(20):
        metrics.delivery_finished(Outcome.DELIVERED, "ok", 0.01, route="rooms")
    await browser.wait_for(f"parseFloat(document.querySelector('{cell('rooms', 'rate')}').textContent) > 0")

    # A record fails: counted on its route, with the reason and the detail, shown as text.
    detail = f"value is not JSON: {HOSTILE}"
    metrics.dead_lettered("decode_error", "alerts", detail=detail, source="chat[1]@7")
    await browser.wait_for(text_contains("#failures td.reason", "decode_error"))
    assert await browser.text(cell("alerts", "dead-lettered")) == ["1"]
    assert await browser.text("#failure-totals") == ["1 dead-lettered (decode_error)"]
    assert await browser.text("#failures td.source") == ["chat[1]@7"]
    assert await browser.text("#failures td.detail") == [f"value is not JSON: {HOSTILE}"]
    assert await browser.evaluate("document.querySelectorAll('#failures img').length") == 0
    assert await browser.evaluate("document.title") == "signalr-bridge"

    # The endpoint goes away: the page turns not ready and says so.
    health.set_endpoint_up("demo.service.signalr.net", False)
    await browser.wait_for(text_contains("#endpoints td.down", "down"))
    await browser.wait_for(text_contains("#reasons", "no SignalR endpoint up"))
    assert await browser.errors() == []


async def test_the_page_says_when_the_bridge_is_gone(
    browser: Browser, bridge_state: tuple[BridgeMetrics, HealthState, ObservabilityServer]
) -> None:
    _, _, server = bridge_state
    await browser.open(server.url + "/")
    await browser.wait_for(text_contains("#routes td.name", "rooms"))
    await server.stop()
    await browser.wait_for(text_contains("#state", "bridge unreachable"))
