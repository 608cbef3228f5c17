"""A small read-only live page on the observability port: ``/`` (HTML) and ``/status.json``.

The page (plain HTML, CSS and JavaScript in ``status/``, no build step) polls
``/status.json`` every second and shows routes with their rates and outcomes, dead-letter
counts and the last failures, SignalR endpoint health and consumer lag per partition.
The JSON is read from the metrics registry and the health state, so the page shows exactly
what ``/metrics`` and ``/readyz`` say. Record contents reach the page only through
:class:`~bridge.observability.recent.RecentFailures` (masked, truncated), and the script
writes them as text, never as HTML; a strict Content-Security-Policy backs that up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from importlib import resources
from typing import Any, Final

from aiohttp import web
from prometheus_client import Metric

from bridge import __version__
from bridge.observability import metrics as m
from bridge.observability.health import HealthState
from bridge.observability.metrics import BridgeMetrics

_ASSETS: Final = {
    "/": ("status.html", "text/html"),
    "/status.js": ("status.js", "text/javascript"),
    "/status.css": ("status.css", "text/css"),
}
_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def add_status_routes(app: web.Application, metrics: BridgeMetrics, health: HealthState) -> None:
    """Serve the page and its JSON on ``app`` (the observability server's application)."""
    assets = {
        path: (resources.files(__package__).joinpath("status", name).read_bytes(), content_type)
        for path, (name, content_type) in _ASSETS.items()
    }

    async def asset(request: web.Request) -> web.Response:
        body, content_type = assets[request.path]
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8",
            headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
        )

    async def status(_: web.Request) -> web.Response:
        return web.json_response(status_snapshot(metrics, health), headers={"Cache-Control": "no-store"})

    for path in assets:
        app.router.add_get(path, asset)
    app.router.add_get("/status.json", status)


def status_snapshot(metrics: BridgeMetrics, health: HealthState) -> dict[str, Any]:
    """Everything the page shows, as plain JSON data (counters are totals; the page computes rates)."""
    families = {family.name: family for family in metrics.registry.collect()}

    def samples(name: str) -> Iterable[tuple[dict[str, str], float]]:
        family: Metric | None = families.get(name.removesuffix("_total"))
        for sample in family.samples if family is not None else ():
            if sample.name == name:
                yield sample.labels, sample.value

    routes: dict[str, dict[str, Any]] = {}

    def route(name: str) -> dict[str, Any]:
        return routes.setdefault(
            name,
            {"name": name, "delivered": 0, "benign": 0, "failed": 0, "dead_lettered": 0, "dropped": 0},
        )

    for labels, value in samples(m.DELIVERIES):
        entry = route(labels["route"])
        entry[labels["outcome"]] = entry.get(labels["outcome"], 0) + value
    dead_letter_reasons: dict[str, float] = {}
    for labels, value in samples(m.DEAD_LETTERED):
        route(labels["route"])["dead_lettered"] += value
        dead_letter_reasons[labels["reason"]] = dead_letter_reasons.get(labels["reason"], 0) + value
    dropped_reasons: dict[str, float] = {}
    for labels, value in samples(m.RECORDS_DROPPED):
        route(labels["route"])["dropped"] += value
        dropped_reasons[labels["reason"]] = dropped_reasons.get(labels["reason"], 0) + value
    ready, live = health.readiness(), health.liveness()
    return {
        "now": time.time(),
        "version": __version__,
        "live": live.ok,
        "ready": ready.ok,
        "reasons": list(ready.reasons),
        "topics": [
            {
                "topic": labels["topic"],
                "consumed": value,
                "skipped": _value(samples(m.RECORDS_SKIPPED), labels),
            }
            for labels, value in samples(m.RECORDS_CONSUMED)
        ],
        "routes": list(routes.values()),
        "dead_lettered": {reason: n for reason, n in dead_letter_reasons.items() if n},
        "dropped": {reason: n for reason, n in dropped_reasons.items() if n},
        "recent_failures": [
            {
                "at": note.at,
                "route": note.route,
                "reason": note.reason,
                "detail": note.detail,
                "source": note.source,
                "dead_lettered": note.dead_lettered,
            }
            for note in metrics.recent_failures.newest_first()
        ],
        "endpoints": [
            {"name": labels["endpoint"], "up": value == 1} for labels, value in samples(m.ENDPOINT_UP)
        ],
        "lag": sorted(
            (
                {"topic": labels["topic"], "partition": int(labels["partition"]), "records": value}
                for labels, value in samples(m.CONSUMER_LAG)
            ),
            key=lambda item: (item["topic"], item["partition"]),
        ),
        "in_flight": next((value for _, value in samples(m.DELIVERIES_IN_FLIGHT)), 0),
        "commits": next((value for _, value in samples(m.OFFSET_COMMITS)), 0),
    }


def _value(samples: Iterable[tuple[dict[str, str], float]], labels: dict[str, str]) -> float:
    return next((value for other, value in samples if other == labels), 0)
