"""Load a config file: YAML (lines, duplicate keys) -> environment -> schema -> cross checks.

What this module checks is structure. The semantic checks (templates, expressions, SignalR
names, connection strings, api-version support) run in :func:`bridge.routing.compile_routes`,
which reports through :attr:`LoadedConfig.locator` with the same file, line, route and field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .environment import (
    DATADIR_VAR,
    DEFAULT_CONNECTION_STRING_VAR,
    apply_default_connection_string,
    apply_overrides,
    substitute,
)
from .errors import ConfigError, ConfigIssue, Locator, pydantic_issue
from .schema import BridgeConfig
from .yaml_source import YamlSourceError, parse_yaml


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: BridgeConfig
    file: str
    unset_variables: tuple[str, ...] = field(default=())  # only when loaded with strict_env=False
    # Where each value came from (line, environment variable), for checks made after loading.
    locator: Locator | None = field(default=None, compare=False, repr=False)

    def issue_locator(self) -> Locator:
        """The file's locator; for a config built in code, one that names route and field only."""
        if self.locator is not None:
            return self.locator
        return Locator(self.file, self.config.model_dump(mode="json", by_alias=True), {}, {})


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None, *, strict_env: bool = True
) -> LoadedConfig:
    """Read and validate ``path``; raise :class:`ConfigError` listing every problem."""
    name = os.fspath(path)
    return load_config_text(read_text(name), file=name, environ=environ, strict_env=strict_env)


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text; a :class:`ConfigError` naming it when it cannot be read as UTF-8."""
    try:
        return FsPath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([ConfigIssue(os.fspath(path), f"cannot read the file: {reason}")]) from None


def load_config_text(
    text: str, *, file: str = "<config>", environ: Mapping[str, str] | None = None, strict_env: bool = True
) -> LoadedConfig:
    env = os.environ if environ is None else environ
    try:
        document = parse_yaml(text)
    except YamlSourceError as exc:
        raise ConfigError([_yaml_issue(file, exc)]) from None
    if not isinstance(document.data, dict):
        what = "empty" if document.data is None else f"a {type(document.data).__name__}"
        raise ConfigError(
            [
                ConfigIssue(
                    file, f"the file is {what}; expected a mapping with kafka, signalr and routes", line=1
                )
            ]
        )

    result = substitute(document.data, env, strict=strict_env)
    apply_overrides(result.data, env, result)
    apply_default_connection_string(result.data, env, result)
    locator = Locator(file, result.data, document.lines, result.sources)
    issues = [locator.issue(issue.path, issue.message, variable=issue.variable) for issue in result.errors]
    if issues:
        raise ConfigError(issues)

    try:
        config = BridgeConfig.model_validate(result.data)
    except ValidationError as exc:
        errors = _without_follow_on_errors(exc.errors())
        raise ConfigError(_unique(pydantic_issue(error, locator, BridgeConfig) for error in errors)) from None

    issues = _cross_checks(config, locator)
    if issues:
        raise ConfigError(issues)
    unset = tuple(dict.fromkeys(issue.variable for issue in result.unset if issue.variable))
    return LoadedConfig(config, file, unset, locator)


def startup_problems(loaded: LoadedConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """What would still stop the daemon from starting, though the file itself is valid."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    if loaded.config.routes and not loaded.config.signalr.has_connection:
        problems.append(
            f"{loaded.file}: signalr: no connection string: set signalr.connection_string, "
            f"signalr.endpoints, or the {DEFAULT_CONNECTION_STRING_VAR} environment variable"
        )
    problems.extend(
        f"{loaded.file}: environment variable {name} is not set" for name in loaded.unset_variables
    )
    tls = loaded.config.kafka.security.tls
    if tls is not None:
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(tls, name)
            if value is not None and not FsPath(value).is_file():
                problems.append(f"{loaded.file}: kafka.security.tls.{name}: no such file: {value}")
    problems.extend(_upstream_problems(loaded))
    datadir = env.get(DATADIR_VAR)
    if datadir and not (FsPath(datadir).is_dir() and os.access(datadir, os.W_OK | os.X_OK)):
        problems.append(f"environment variable {DATADIR_VAR}: {datadir} is not a writable directory")
    return problems


def config_warnings(config: BridgeConfig) -> list[str]:
    """Settings that work but are risky; ``check`` prints them without failing."""
    warnings: list[str] = []
    security = config.kafka.security
    if security.tls is not None and not security.tls.verify:
        warnings.append("kafka.security.tls.verify is false: the broker certificate is not checked")
    if security.protocol == "SASL_PLAINTEXT":
        warnings.append("kafka.security.protocol SASL_PLAINTEXT sends the SASL credentials without TLS")
    return warnings


def _upstream_problems(loaded: LoadedConfig) -> list[str]:
    upstream = loaded.config.upstream
    if upstream is None:
        return []
    problems = []
    # With outbound routes too, a missing connection string is reported already.
    if not loaded.config.routes and not loaded.config.signalr.has_connection and not upstream.access_keys:
        problems.append(
            f"{loaded.file}: upstream: no AccessKey to check the service's signatures: set "
            f"signalr.connection_string, signalr.endpoints, the {DEFAULT_CONNECTION_STRING_VAR} "
            "environment variable, or upstream.access_keys"
        )
    if upstream.tls is not None:
        for name in ("cert_file", "key_file"):
            value = getattr(upstream.tls, name)
            if value is not None and not FsPath(value).is_file():
                problems.append(f"{loaded.file}: upstream.tls.{name}: no such file: {value}")
    return problems


def _cross_checks(config: BridgeConfig, locator: Locator) -> list[ConfigIssue]:
    issues = _duplicate_names([route.name for route in config.routes], ("routes",), locator)
    if config.upstream is not None:
        inbound = [route.name for route in config.upstream.routes]
        issues.extend(_duplicate_names(inbound, ("upstream", "routes"), locator))
    issues.extend(_dead_letter_topic_routed(config, locator))
    return issues


def _duplicate_names(names: list[str], prefix: tuple[str, ...], locator: Locator) -> list[ConfigIssue]:
    first: dict[str, int] = {}
    issues = []
    for index, name in enumerate(names):
        if name in first:
            message = f"duplicate route name (route #{first[name] + 1} has the same name)"
            issues.append(locator.issue((*prefix, index, "name"), message))
        else:
            first[name] = index
    return issues


def _dead_letter_topic_routed(config: BridgeConfig, locator: Locator) -> list[ConfigIssue]:
    """A routed dead-letter topic feeds every failure back in: one bad record loops for ever."""
    topic = config.dead_letter.topic
    if topic is None:
        return []
    routes = [
        route.name
        for route in config.routes
        if topic in route.topics
        or (route.topic_pattern is not None and re.fullmatch(route.topic_pattern, topic) is not None)
    ]
    if not routes:
        return []
    names = ", ".join(f'"{name}"' for name in routes)
    return [
        locator.issue(
            ("dead_letter", "topic"),
            f"the dead-letter topic is also consumed by route {names}: each failure would be "
            "dead-lettered again and again; use a topic no route reads",
        )
    ]


def _without_follow_on_errors(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Pydantic drops invalid items before checking a list's min_length; report the items only."""
    locations = [error["loc"] for error in errors]
    return [
        error
        for error in errors
        if error["type"] != "too_short"
        or not any(
            len(loc) > len(error["loc"]) and loc[: len(error["loc"])] == error["loc"] for loc in locations
        )
    ]


def _unique(issues: Iterable[ConfigIssue]) -> list[ConfigIssue]:
    return list(dict.fromkeys(issues))  # pydantic repeats an error once per union branch


def _yaml_issue(file: str, exc: YamlSourceError) -> ConfigIssue:
    # The document did not parse, so routes are named by position ("#1"), not by name.
    locator = Locator(file, None, {}, {})
    issue = locator.issue(exc.path, exc.message)
    return ConfigIssue(file, issue.message, line=exc.line, route=issue.route, field=issue.field)
