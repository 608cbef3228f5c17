"""The config's semantic checks, made while the routes are compiled, located like any config error.

``bridge.config`` checks structure (types, required keys, ranges, exclusive options) and
depends on nothing else in the package. What needs routing's template parser or the
service's rules from ``bridge.signalr`` is checked here: templates and expressions, literal
SignalR names (target, user, group, connection, hub), connection strings, and operations the
configured api-version lacks. Each problem goes through the config's :class:`Locator`, so
``signalr-bridge check`` prints file, line, route and field exactly as for a structural one.

Why a step after loading rather than validators inside the pydantic models: the models stay
importable without jmespath and the SignalR package, and the checks run where the templates
are parsed anyway, once. :func:`bridge.routing.compile_routes` runs them before it returns a
:class:`~bridge.routing.Router`, so whatever holds a router holds a checked config; ``check``,
``run``, ``route`` and ``dlq replay`` all go through it. The price: semantic problems are
listed once the structure is valid, the way a compiler reports type errors after syntax ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bridge.config import BridgeConfig, ConfigError, ConfigIssue, LoadedConfig, path_in_data
from bridge.config.schema import SignalRConfig
from bridge.signalr.connection_string import parse_connection_string
from bridge.signalr.errors import ConnectionStringError, PreflightError
from bridge.signalr.names import check_hub

from .template import Expression, Template, TemplateSyntaxError, compile_expression, parse_template

Path = tuple[str | int, ...]
NameRule = Callable[[str], str]


class ConfigChecks:
    """Parses a config's templates and collects every located problem; :meth:`raise_if_any` at the end.

    A template that fails to parse is replaced by its literal text so compiling can go on
    and report the next problem too; the result is never used, since :meth:`raise_if_any`
    raises first.
    """

    def __init__(self, loaded: LoadedConfig) -> None:
        self._locator = loaded.issue_locator()
        self.issues: list[ConfigIssue] = []

    def problem(self, path: Path, message: str) -> None:
        self.issues.append(self._locator.issue(path_in_data(path, self._locator.data), message))

    def raise_if_any(self) -> None:
        if self.issues:
            raise ConfigError(list(dict.fromkeys(self.issues)))

    def template(self, path: Path, source: str, name_rule: NameRule | None = None) -> Template:
        """``source`` parsed; a template that is plain text must also satisfy ``name_rule``."""
        try:
            template = parse_template(source)
        except TemplateSyntaxError as exc:
            self.problem(path, str(exc))
            return Template(source, (source,))
        if name_rule is not None and template.is_literal:
            self._name(path, template.literal, name_rule)
        return template

    def hub(self, path: Path, source: str) -> Template:
        """A hub is a plain name, or a template where the config allows one."""
        if "{" in source:
            return self.template(path, source)
        self._name(path, source, check_hub)
        return Template(source, (source,))

    def expression(self, path: Path, source: str) -> Expression | None:
        try:
            return compile_expression(source)
        except TemplateSyntaxError as exc:
            self.problem(path, str(exc))
            return None

    def ttl(self, path: Path, source: str) -> Template:
        template = self.template(path, source)
        if template.is_literal:
            self.problem(path, "must be a number of seconds or a template such as '{value.ttl}'")
        return template

    def json_template(self, path: Path, value: Any, inner: str = "") -> Any:
        """Every string of a JSON argument as a :class:`Template` (what ``render_json`` takes)."""
        if isinstance(value, str):
            try:
                return parse_template(value)
            except TemplateSyntaxError as exc:
                self.problem(path, f"{inner}: {exc}" if inner else str(exc))
                return Template(value, (value,))
        if isinstance(value, list | tuple):
            return tuple(self.json_template(path, item, f"{inner}[{i}]") for i, item in enumerate(value))
        if isinstance(value, Mapping):
            return {
                key: self.json_template(path, item, f"{inner}.{key}" if inner else key)
                for key, item in value.items()
            }
        return value

    def signalr(self, signalr: SignalRConfig) -> None:
        """Connection strings parse; the default hub and application meet the hub name rule."""
        section: Path = ("signalr",)
        if "{" not in signalr.hub:  # a template there is a structural error, reported by the schema
            self._name((*section, "hub"), signalr.hub, check_hub)
        if signalr.application is not None and "{" not in signalr.application:
            self._name((*section, "application"), signalr.application, check_hub)
        secrets = [((*section, "connection_string"), signalr.connection_string)]
        secrets += [
            ((*section, "endpoints", i, "connection_string"), endpoint.connection_string)
            for i, endpoint in enumerate(signalr.endpoints)
        ]
        for path, secret in secrets:
            if secret is None:
                continue
            try:
                parse_connection_string(secret.get_secret_value())
            except ConnectionStringError as exc:
                # ConnectionStringError messages never contain the AccessKey.
                self.problem(path, f"invalid connection string: {exc}")

    def operations(self, config: BridgeConfig) -> None:
        """Every action is an operation the configured api-version has."""
        if config.signalr.api_version != "v1":
            return
        for route_index, route in enumerate(config.routes):
            for position, action in enumerate(route.actions):
                group = action.group
                if group is not None and group.action == "removeAll" and group.connection_id is not None:
                    self.problem(
                        ("routes", route_index, "actions", position, "group", "action"),
                        "removeAll for a connection needs signalr.api_version 2022-06-01 or later "
                        "(v1 has no such operation)",
                    )

    def _name(self, path: Path, name: str, rule: NameRule) -> None:
        try:
            rule(name)
        except PreflightError as exc:
            self.problem(path, str(exc))
