"""Inbound routes compiled from ``upstream.routes``: an upstream event's envelope in, Kafka records out.

The mirror of :mod:`bridge.routing.router`: every route whose hub, category and event
patterns match and whose ``filter`` is truthy gives one record, in file order. Templates
and expressions are the outbound ones (``{userId || connectionId}``, ``room-{arguments[0]}``)
evaluated over the envelope (``bridge/upstream/README.md``). A route that cannot build its
record raises :class:`RoutingError` and the event gives nothing (the receiver answers 400).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from bridge.config import ConfigError, ConfigIssue
from bridge.signalr.errors import PreflightError
from bridge.signalr.names import check_hub

from .compiled import CompiledField
from .errors import RoutingError
from .render import FieldContext, compile_json_template, evaluate, is_truthy, render_json
from .template import Expression, TemplateSyntaxError, compile_expression, parse_template

if TYPE_CHECKING:
    from bridge.config.errors import Locator
    from bridge.config.inbound import InboundRouteConfig
    from bridge.config.schema import BridgeConfig

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


def compile_inbound_routes(config: BridgeConfig, locator: Locator | None = None) -> InboundRouter:
    """Compile ``upstream.routes``; every template, expression and hub name problem is reported
    at once as a :class:`ConfigError` located in the file (when ``locator`` is given)."""
    if config.upstream is None:
        return InboundRouter(())
    issues: list[ConfigIssue] = []
    routes = []
    for index, route in enumerate(config.upstream.routes):

        def report(field: tuple[str | int, ...], message: str, index: int = index) -> None:
            path = ("upstream", "routes", index, *field)
            if locator is not None:
                issues.append(locator.issue(path, message))
            else:
                issues.append(ConfigIssue("<config>", message, field=".".join(map(str, path))))

        compiled = _compile(route, config.signalr.hub, report)
        if compiled is not None:
            routes.append(compiled)
    if issues:
        raise ConfigError(issues)
    return InboundRouter(tuple(routes))


def _compile(
    route: InboundRouteConfig, default_hub: str, report: Callable[[tuple[str | int, ...], str], None]
) -> CompiledInboundRoute | None:
    failed = False

    def attempt(field: tuple[str | int, ...], build: Callable[[], Any]) -> Any:
        nonlocal failed
        try:
            return build()
        except (TemplateSyntaxError, PreflightError) as exc:
            report(field, str(exc))
            failed = True
            return None

    hubs = route.hub if route.hub is not None else (default_hub,)
    for position, hub in enumerate(route.hub or ()):
        if hub != "*":
            attempt(("hub", position), partial(check_hub, hub))
    expression = attempt(("filter",), lambda: compile_expression(route.filter) if route.filter else None)
    key = attempt(("key",), partial(_field, "key", route.key))
    headers = tuple(
        (name, attempt(("headers", name), partial(_field, f"headers.{name}", source)))
        for name, source in route.headers.items()
    )
    result = attempt(("result",), lambda: compile_json_template(route.result))
    if failed:
        return None
    return CompiledInboundRoute(
        name=route.name,
        hub=NamePattern.parse(hubs, fold_case=True),  # hubs are case-insensitive in the service
        category=NamePattern.parse(route.category),
        event=NamePattern.parse(route.event),
        filter=expression,
        topic=route.topic,
        key=key,
        headers=headers,
        result=result,
    )


def _field(path: str, source: str) -> CompiledField:
    return CompiledField(path, parse_template(source))


__all__ = ["InboundRouter", "InboundTarget", "RoutingError", "compile_inbound_routes"]
