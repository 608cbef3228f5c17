"""Turn a Kafka record into SignalR actions according to the compiled routes.

Every route whose topic matches (``topics`` by name, ``topic_pattern`` as a full-match
regular expression) and whose ``filter`` is truthy contributes its actions, in file
order. A record no route wants gives an empty list. A record a route wants but cannot
turn into actions raises :class:`RoutingError` and yields nothing (no partial result),
so the whole record is dead-lettered once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from bridge.config import BridgeConfig, LoadedConfig, RouteConfig
from bridge.signalr.actions import Action

from .checks import ConfigChecks
from .compiled import CompiledAction, CompiledField, compile_action
from .envelope import ValueFormat, build_envelope
from .errors import RoutingError
from .record import Record
from .render import FieldContext, evaluate, is_truthy
from .template import Expression

Ordering = Literal["key", "partition", "none"]
_TOPIC_CACHE_LIMIT = 10_000  # topic -> routes memo; patterns can match unboundedly many topics


@dataclass(frozen=True, slots=True)
class RoutedAction:
    route: str
    action: Action
    ordering: Ordering


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    name: str
    topics: frozenset[str]
    topic_pattern: re.Pattern[str] | None
    value_format: ValueFormat
    filter: Expression | None
    ordering: Ordering
    hub: CompiledField | None
    max_fanout: int
    actions: tuple[CompiledAction, ...]

    def matches(self, topic: str) -> bool:
        if topic in self.topics:
            return True
        return self.topic_pattern is not None and self.topic_pattern.fullmatch(topic) is not None


class Router:
    """Compiled once at start; ``route`` is pure and safe to call from any task."""

    def __init__(self, routes: tuple[CompiledRoute, ...]) -> None:
        self.routes = routes
        self._by_topic: dict[str, tuple[CompiledRoute, ...]] = {}

    @property
    def topics(self) -> frozenset[str]:
        """Topics named explicitly (to subscribe to)."""
        return frozenset(topic for route in self.routes for topic in route.topics)

    @property
    def topic_patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(route.topic_pattern for route in self.routes if route.topic_pattern is not None)

    def routes_for(self, topic: str) -> tuple[CompiledRoute, ...]:
        found = self._by_topic.get(topic)
        if found is None:
            found = tuple(route for route in self.routes if route.matches(topic))
            if len(self._by_topic) >= _TOPIC_CACHE_LIMIT:
                self._by_topic.clear()
            self._by_topic[topic] = found
        return found

    def route(self, record: Record) -> list[RoutedAction]:
        """The actions for ``record``; raises only :class:`RoutingError`."""
        routed: list[RoutedAction] = []
        envelopes: dict[ValueFormat, dict[str, Any]] = {}
        for route in self.routes_for(record.topic):
            envelope = envelopes.get(route.value_format)
            if envelope is None:
                envelope = build_envelope(record, route.value_format, route=route.name)
                envelopes[route.value_format] = envelope
            if route.filter is not None and not is_truthy(
                evaluate(route.filter, envelope, FieldContext(route.name, "filter"))
            ):
                continue
            for action in route.actions:
                built = action.build(envelope, route.name, route.hub, route.max_fanout)
                routed.extend(RoutedAction(route.name, item, route.ordering) for item in built)
        return routed


def compile_route(config: RouteConfig, index: int, checks: ConfigChecks) -> CompiledRoute:
    path = ("routes", index)
    return CompiledRoute(
        name=config.name,
        topics=frozenset(config.topics),
        topic_pattern=re.compile(config.topic_pattern) if config.topic_pattern is not None else None,
        value_format=config.value_format,
        filter=checks.expression((*path, "filter"), config.filter) if config.filter is not None else None,
        ordering=config.ordering,
        hub=CompiledField("hub", checks.hub((*path, "hub"), config.hub)) if config.hub is not None else None,
        max_fanout=config.max_fanout,
        actions=tuple(
            compile_action(action, (*path, "actions", i), checks) for i, action in enumerate(config.actions)
        ),
    )


def compile_routes(config: LoadedConfig | BridgeConfig) -> Router:
    """Check a loaded config's templates, names and connection strings, then compile its routes.

    Raises :class:`~bridge.config.ConfigError` listing every problem, located in the file
    like the loader's own (see :mod:`bridge.routing.checks`). A config built in code has no
    lines: its problems name the route and the field.
    """
    loaded = config if isinstance(config, LoadedConfig) else LoadedConfig(config, "<config>")
    checks = ConfigChecks(loaded)
    bridge = loaded.config
    checks.signalr(bridge.signalr)
    router = Router(tuple(compile_route(route, i, checks) for i, route in enumerate(bridge.routes)))
    checks.operations(bridge)
    checks.raise_if_any()
    return router


__all__ = ["CompiledRoute", "RoutedAction", "Router", "RoutingError", "compile_route", "compile_routes"]
