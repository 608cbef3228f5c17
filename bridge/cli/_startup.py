"""What would stop ``run`` from starting, found without the network (``check``, ``run``, ``dlq replay``).

Two kinds of problem: those of the file (syntax, schema, expressions, a routed dead-letter
topic) are always errors; those of this machine's environment (unset variables, no
connection string, TLS files, a missing extra such as azure-identity) are errors too,
except under ``check --offline``, which checks a file meant for another machine and
reports them as warnings.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from bridge.config import (
    ConfigError,
    ConfigIssue,
    LoadedConfig,
    config_warnings,
    load_config,
    startup_problems,
)
from bridge.routing import compile_routes
from bridge.routing.inbound import compile_inbound_routes
from bridge.signalr.connection_string import parse_connection_string
from bridge.signalr.errors import ConnectionStringError
from bridge.signalr.extras import missing_dependency
from bridge.upstream.keys import key_problems


@dataclass(slots=True)
class StartupReport:
    loaded: LoadedConfig | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def startup_report(path: str, *, offline: bool = False) -> StartupReport:
    try:
        loaded = load_config(path, strict_env=not offline)
    except ConfigError as exc:
        return StartupReport(None, [str(issue) for issue in exc.issues])
    issues: list[ConfigIssue] = []
    for compile_direction in (compile_routes, compile_inbound_routes):  # Kafka -> SignalR, and back
        try:
            compile_direction(loaded)
        except ConfigError as exc:
            issues.extend(exc.issues)
    if issues:
        return StartupReport(None, [str(issue) for issue in ConfigError(issues).issues])
    report = StartupReport(loaded)
    environment = (
        startup_problems(loaded) + key_problems(loaded.config, loaded.file) + installation_problems(loaded)
    )
    if offline:
        prefix = f"{loaded.file}: "
        report.warnings += [prefix + "warning: " + p.removeprefix(prefix) for p in environment]
    else:
        report.errors += environment
    report.warnings += [f"{loaded.file}: warning: {w}" for w in config_warnings(loaded.config)]
    return report


def installation_problems(loaded: LoadedConfig) -> list[str]:
    """What this installation lacks for the config: an optional extra, loadable TLS material."""
    problems: list[str] = []
    signalr = loaded.config.signalr
    # Only outbound routes deliver (an inbound-only bridge builds no SignalR client).
    secrets = [("signalr.connection_string", signalr.connection_string)] + [
        (f"signalr.endpoints[{i}].connection_string", e.connection_string)
        for i, e in enumerate(signalr.endpoints)
    ]
    if not loaded.config.routes:
        secrets = []
    for where, secret in secrets:
        if secret is None:
            continue
        try:
            missing = missing_dependency(parse_connection_string(secret.get_secret_value()))
        except ConnectionStringError:
            continue  # reported by the schema already
        if missing is not None:
            problems.append(f"{loaded.file}: {where}: {missing}")
    tls = loaded.config.kafka.security.tls
    files = [f for f in (tls.ca_file, tls.cert_file, tls.key_file) if f is not None] if tls else []
    if tls is not None and all(Path(f).is_file() for f in files):  # missing files: startup_problems
        from bridge.pipeline.kafka_app import ssl_context  # noqa: PLC0415 - loads faust; TLS configs only

        try:
            ssl_context(tls)
        except (ssl.SSLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            problems.append(f"{loaded.file}: kafka.security.tls: cannot load the certificates: {reason}")
    return problems
