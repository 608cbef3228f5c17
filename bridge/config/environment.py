"""Environment input: ``${VAR}`` substitution in string values, and overrides.

Substitution: ``${VAR}`` is replaced by the variable, ``${VAR:-fallback}`` uses the
fallback when VAR is unset or empty, ``$${`` writes a literal ``${``. A ``$`` not
followed by ``{`` stays as it is, so Event Hubs' username ``$ConnectionString``
needs no escaping. Substitution happens after YAML parsing, so a secret containing
``#`` or ``: `` cannot change the structure of the file.

Overrides: ``SIGNALR_BRIDGE__<SECTION>__<KEY>...=value`` sets one scalar, e.g.
``SIGNALR_BRIDGE__KAFKA__SECURITY__SASL__PASSWORD``; a number selects a list item
(``SIGNALR_BRIDGE__SIGNALR__ENDPOINTS__0__CONNECTION_STRING``). Routes (``routes`` and
``upstream.routes``) cannot be overridden: they are the program, not a deployment setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .yaml_source import Path

OVERRIDE_PREFIX = "SIGNALR_BRIDGE__"
OVERRIDABLE_SECTIONS = (
    "kafka",
    "signalr",
    "dead_letter",
    "pipeline",
    "observability",
    "shutdown",
    "upstream",
)
DEFAULT_CONNECTION_STRING_VAR = "AzureSignalRConnectionString"
# faust's own variable for its data directory. The bridge keeps no tables, but faust still
# creates directories there: the image, the chart and the kustomize base point it at a
# writable volume, since the root filesystem is read-only. Unset: the system temp dir.
DATADIR_VAR = "FAUST_DATADIR"

_REFERENCE = re.compile(r"\$(\$?)\{([^{}]*)\}")
_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class EnvironmentIssue:
    path: Path
    message: str
    variable: str | None = None


@dataclass(slots=True)
class EnvironmentResult:
    data: Any
    errors: list[EnvironmentIssue] = field(default_factory=list)
    unset: list[EnvironmentIssue] = field(default_factory=list)
    sources: dict[Path, str] = field(default_factory=dict)  # path -> environment variable that set it


def substitute(data: Any, environ: Mapping[str, str], *, strict: bool = True) -> EnvironmentResult:
    """Replace ``${VAR}`` in every string value. Unset variables are errors when ``strict``,
    else they become empty strings and are listed in ``unset``."""
    result = EnvironmentResult(None)
    result.data = _walk(data, (), environ, strict, result)
    return result


def _walk(value: Any, path: Path, environ: Mapping[str, str], strict: bool, result: EnvironmentResult) -> Any:
    if isinstance(value, str):
        return _substitute_text(value, path, environ, strict, result)
    if isinstance(value, list):
        return [_walk(item, (*path, i), environ, strict, result) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {k: _walk(v, (*path, str(k)), environ, strict, result) for k, v in value.items()}
    return value


def _substitute_text(
    text: str, path: Path, environ: Mapping[str, str], strict: bool, result: EnvironmentResult
) -> str:
    if "${" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "${" + match.group(2) + "}"
        reference = _VARIABLE.match(match.group(2))
        if reference is None:
            result.errors.append(
                EnvironmentIssue(path, f"'${{{match.group(2)}}}' is not a valid variable reference")
            )
            return ""
        name, fallback = reference.group(1), reference.group(2)
        value = environ.get(name)
        if value is not None:
            result.sources[path] = name
        if value:
            return value
        if fallback is not None:
            return fallback
        if value is not None:  # set but empty is a deliberate value
            return value
        issue = EnvironmentIssue(
            path,
            f"environment variable {name} is not set (use ${{{name}:-fallback}} for a default)",
            name,
        )
        (result.errors if strict else result.unset).append(issue)
        return ""

    if "${" in _REFERENCE.sub("", text):
        result.errors.append(
            EnvironmentIssue(path, "'${' without a closing '}' (write '$${' for a literal '${')")
        )
    return _REFERENCE.sub(replace, text)


def apply_overrides(data: Any, environ: Mapping[str, str], result: EnvironmentResult) -> None:
    """Apply ``SIGNALR_BRIDGE__...`` variables to ``data`` in place (sorted, so deterministic)."""
    if not isinstance(data, dict):
        return
    for variable in sorted(environ):
        if not variable.upper().startswith(OVERRIDE_PREFIX):
            continue
        segments = [s.lower() for s in variable[len(OVERRIDE_PREFIX) :].split("__")]
        routes = segments[:2] == ["upstream", "routes"]  # routes are the program, not a setting
        if not segments or segments[0] not in OVERRIDABLE_SECTIONS or not all(segments) or routes:
            result.errors.append(
                EnvironmentIssue(
                    (),
                    f"environment variable {variable} does not name a setting "
                    f"(sections: {', '.join(OVERRIDABLE_SECTIONS)})",
                    variable,
                )
            )
            continue
        _set_path(data, segments, environ[variable], variable, result)


def apply_default_connection_string(data: Any, environ: Mapping[str, str], result: EnvironmentResult) -> None:
    """Functions-style default: no connection_string and no endpoints -> AzureSignalRConnectionString."""
    if not isinstance(data, dict) or not isinstance(data.get("signalr"), dict):
        return
    signalr = data["signalr"]
    if "connection_string" in signalr or "endpoints" in signalr:
        return
    value = environ.get(DEFAULT_CONNECTION_STRING_VAR)
    if value:
        signalr["connection_string"] = value
        result.sources[("signalr", "connection_string")] = DEFAULT_CONNECTION_STRING_VAR


def _set_path(
    data: dict[str, Any], segments: list[str], value: str, variable: str, result: EnvironmentResult
) -> None:
    node: Any = data
    path: list[str | int] = []
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if isinstance(node, list):
            if not segment.isdigit() or int(segment) >= len(node):
                result.errors.append(
                    EnvironmentIssue(tuple(path), f"{variable}: no list item {segment}", variable)
                )
                return
            index = int(segment)
            path.append(index)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            result.errors.append(
                EnvironmentIssue(tuple(path), f"{variable}: {segment} is not a section", variable)
            )
            return
        path.append(segment)
        if last:
            node[segment] = value
        else:
            node = node.setdefault(segment, {})
    result.sources[tuple(path)] = variable
