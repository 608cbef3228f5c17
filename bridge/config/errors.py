"""Config errors a user can act on: file, line, route, field, and what is wrong.

One line per problem, e.g.::

    chat.yaml:14: route "chat-messages": field "actions[0].send.groupName": invalid expression 'value.': ...

Values are never echoed except short enum choices, so secrets cannot leak into logs.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from .yaml_source import Path

_SHOULD = re.compile(r"^(Input|String|List|Tuple|Value|Dictionary|Object) should ")


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    file: str
    message: str
    line: int | None = None
    route: str | None = None
    field: str | None = None
    variable: str | None = None  # the environment variable that supplied the value

    def __str__(self) -> str:
        location = self.file if self.line is None else f"{self.file}:{self.line}"
        pieces = [location]
        if self.route is not None:
            pieces.append(f'route "{self.route}"')
        if self.field:
            pieces.append(f'field "{self.field}"')
        message = self.message
        if self.variable is not None and self.variable not in message:
            message += f" (value from environment variable {self.variable})"
        return ": ".join([*pieces, message])


class ConfigError(ValueError):
    """The config cannot be used; ``issues`` lists every problem found, in file order."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda issue: issue.line or 0)
        super().__init__("\n".join(str(issue) for issue in self.issues))


@dataclass(frozen=True, slots=True)
class Locator:
    """Turns a data path into a located issue using the parsed file's line table."""

    file: str
    data: Any
    lines: Mapping[Path, int]
    sources: Mapping[Path, str]

    def issue(self, path: Path, message: str, *, variable: str | None = None) -> ConfigIssue:
        route, field = self._route_and_field(path)
        line = None
        source = variable
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if source is None and prefix in self.sources:
                source = self.sources[prefix]
            if line is None and prefix in self.lines:
                line = self.lines[prefix]
        return ConfigIssue(self.file, message, line=line, route=route, field=field, variable=source)

    def _route_and_field(self, path: Path) -> tuple[str | None, str]:
        # Outbound routes live at routes[i], inbound ones at upstream.routes[i].
        for prefix in (("routes",), ("upstream", "routes")):
            depth = len(prefix)
            if len(path) > depth and path[:depth] == prefix and isinstance(path[depth], int):
                routes: Any = self.data
                for part in prefix:
                    routes = routes.get(part) if isinstance(routes, dict) else None
                index = path[depth]
                assert isinstance(index, int)
                name = None
                if isinstance(routes, list) and index < len(routes) and isinstance(routes[index], dict):
                    candidate = routes[index].get("name")
                    name = candidate if isinstance(candidate, str) else None
                return (name if name else f"#{index + 1}"), format_path(path[depth + 1 :])
        return None, format_path(path)


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def pydantic_issue(error: ErrorDetails, locator: Locator, root: type[BaseModel]) -> ConfigIssue:
    path = path_in_data(error["loc"], locator.data)
    kind = error["type"]
    if kind == "extra_forbidden":
        message = _unknown_key_message(path, root)
    elif kind == "missing":
        message = "is required"
    elif kind in ("literal_error", "enum") and isinstance(error.get("input"), str | int):
        message = f"{_plain(error['msg'])} (got {error['input']!r})"
    else:
        message = _plain(error["msg"])
    return locator.issue(path, message)


def _plain(message: str) -> str:
    message = message.removeprefix("Value error, ").replace(" after validation", "")
    message = re.sub(r", not \d+$", "", message)
    return _SHOULD.sub("must ", message)


def path_in_data(loc: tuple[int | str, ...], data: Any) -> Path:
    """Keep the parts of pydantic's ``loc`` that exist in the data (drops internal tags like 'str')."""
    path: list[str | int] = []
    node = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif last and isinstance(part, str):
            path.append(part)  # a missing key
            node = None
    return tuple(path)


def _unknown_key_message(path: Path, root: type[BaseModel]) -> str:
    key = str(path[-1]) if path else ""
    model = _model_at(path[:-1], root)
    if model is None:
        return "unknown key"
    allowed = [info.alias or name for name, info in model.model_fields.items()]
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f'unknown key (did you mean "{close[0]}"?)'
    return f"unknown key (expected one of: {', '.join(allowed)})"


def _model_at(path: Path, root: type[BaseModel]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        field = next(
            (info for name, info in model.model_fields.items() if (info.alias or name) == part),
            None,
        )
        model = _first_model(field.annotation) if field is not None else None
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return None
    for argument in typing.get_args(annotation):
        found = _first_model(argument)
        if found is not None:
            return found
    return None
