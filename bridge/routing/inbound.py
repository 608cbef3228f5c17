"""Inbound routes compiled from ``upstream.routes``: an upstream event's envelope in, Kafka records out.

The mirror of :mod:`bridge.routing.router`: every route whose hub, category and event
patterns match and whose ``filter`` is truthy gives one record, in file order. Templates
and expressions are the outbound ones (``{userId || connectionId}``, ``room-{arguments[0]}``)
evaluated over the envelope (``bridge/upstream/README.md``). A route that cannot build its
record raises :class:`RoutingError` and the event gives nothing (the receiver answers 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.config import BridgeConfig, LoadedConfig

from .checks import ConfigChecks
from .compiled import CompiledField
from .errors import RoutingError
from .render import FieldContext, evaluate, is_truthy, render_json
from .template import Expression

if TYPE_CHECKING:
    from bridge.config.inbound import InboundRouteConfig

Envelope = Mapping[str, Any]
OTHER_LABEL = "other"
"""Metric label for a hub or event no route names: label values stay a bounded set."""


@dataclass(frozen=True, slots=True)
class NamePattern:
    """``*`` or a set of names, as the service's upstream patterns (``names is None`` = any)."""

    names: frozenset[str] | None
    fold_case: bool = False

    @classmethod
    def parse(cls, items: tuple[str, ...], *, fold_case: bool = False) -> NamePattern:
        if "*" in items:
            return cls(None, fold_case)
        return cls(frozenset(item.lower() if fold_case else item for item in items), fold_case)

    def matches(self, value: str) -> bool:
        if self.names is None:
            return True
        return (value.lower() if self.fold_case else value) in self.names


@dataclass(frozen=True, slots=True)
class InboundTarget:
    """Where one route sends one event: the rendered topic, key and headers."""

    route: str
    topic: str
    key: str
    headers: tuple[tuple[str, str], ...]
    result: Any  # a compiled JSON template, or None


@dataclass(frozen=True, slots=True)
class CompiledInboundRoute:
    name: str
    hub: NamePattern
    category: NamePattern
    event: NamePattern
    filter: Expression | None
    topic: str
    key: CompiledField
    headers: tuple[tuple[str, CompiledField], ...]
    result: Any

    def matches(self, hub: str, category: str, event: str) -> bool:
        return self.hub.matches(hub) and self.category.matches(category) and self.event.matches(event)

    def target(self, envelope: Envelope) -> InboundTarget | None:
        if self.filter is not None and not is_truthy(
            evaluate(self.filter, envelope, FieldContext(self.name, "filter"))
        ):
            return None
        headers = tuple((name, field.text(envelope, self.name)) for name, field in self.headers)
        return InboundTarget(self.name, self.topic, self.key.text(envelope, self.name), headers, self.result)


class InboundRouter:
    """Compiled once at start; ``route`` is pure and safe to call from any task."""

    def __init__(self, routes: tuple[CompiledInboundRoute, ...]) -> None:
        self.routes = routes
        self._hub_labels = _named(route.hub for route in routes)
        self._event_labels = _named(route.event for route in routes)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(route.topic for route in self.routes)

    def wants(self, hub: str, category: str, event: str) -> bool:
        return any(route.matches(hub, category, event) for route in self.routes)

    def route(self, envelope: Envelope) -> list[InboundTarget]:
        """One target per matching route; raises only :class:`RoutingError`."""
        hub, category, event = envelope["hub"], envelope["category"], envelope["event"]
        targets = []
        for route in self.routes:
            if route.matches(hub, category, event):
                target = route.target(envelope)
                if target is not None:
                    targets.append(target)
        return targets

    @staticmethod
    def render_result(target: InboundTarget, envelope: Envelope, record: Mapping[str, Any]) -> Any:
        """The ``result`` a client's ``invoke()`` gets; ``record`` is where Kafka stored the event."""
        return render_json(
            target.result, {**envelope, "record": record}, FieldContext(target.route, "result")
        )

    def labels(self, hub: str, category: str, event: str) -> tuple[str, str, str]:
        """Metric labels: values a route names literally, else ``other`` (clients choose the rest)."""
        category_label = category if category in ("connections", "messages") else OTHER_LABEL
        if category == "connections" and event in ("connected", "disconnected"):
            event_label = event
        else:
            event_label = event if event in self._event_labels else OTHER_LABEL
        return (hub.lower() if hub.lower() in self._hub_labels else OTHER_LABEL), category_label, event_label


def _named(patterns: Any) -> frozenset[str]:
    return frozenset(name for pattern in patterns if pattern.names is not None for name in pattern.names)


def compile_inbound_routes(config: LoadedConfig | BridgeConfig) -> InboundRouter:
    """Check and compile ``upstream.routes``: every template, expression and hub name problem is
    reported at once as a :class:`ConfigError`, located in the file (see :mod:`.checks`)."""
    loaded = config if isinstance(config, LoadedConfig) else LoadedConfig(config, "<config>")
    upstream = loaded.config.upstream
    if upstream is None:
        return InboundRouter(())
    checks = ConfigChecks(loaded)
    default_hub = loaded.config.signalr.hub
    routes = tuple(_compile(route, index, default_hub, checks) for index, route in enumerate(upstream.routes))
    checks.raise_if_any()
    return InboundRouter(routes)


def _compile(
    route: InboundRouteConfig, index: int, default_hub: str, checks: ConfigChecks
) -> CompiledInboundRoute:
    path = ("upstream", "routes", index)
    for position, hub in enumerate(route.hub or ()):
        if "{" in hub:
            checks.problem((*path, "hub", position), "a hub pattern is a name or '*', not a template")
        elif hub != "*":
            checks.hub((*path, "hub", position), hub)
    headers = tuple(
        (name, CompiledField(f"headers.{name}", checks.template((*path, "headers", name), source)))
        for name, source in route.headers.items()
    )
    return CompiledInboundRoute(
        name=route.name,
        hub=NamePattern.parse(route.hub or (default_hub,), fold_case=True),  # hubs ignore case
        category=NamePattern.parse(route.category),
        event=NamePattern.parse(route.event),
        filter=checks.expression((*path, "filter"), route.filter) if route.filter else None,
        topic=route.topic,
        key=CompiledField("key", checks.template((*path, "key"), route.key)),
        headers=headers,
        result=checks.json_template((*path, "result"), route.result),
    )


__all__ = ["InboundRouter", "InboundTarget", "RoutingError", "compile_inbound_routes"]
