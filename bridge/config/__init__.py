"""The bridge's config file: schema, loading, environment, and located errors.

This package depends on nothing else in ``bridge``: it checks structure. Semantic checks
(templates, SignalR names, connection strings) run in :func:`bridge.routing.compile_routes`
and report through :class:`Locator` with the same file, line, route and field.
"""

from .errors import ConfigError, ConfigIssue, Locator, format_path, path_in_data
from .loader import (
    LoadedConfig,
    config_warnings,
    load_config,
    load_config_text,
    startup_problems,
)
from .schema import BridgeConfig, RouteConfig

__all__ = [
    "BridgeConfig",
    "ConfigError",
    "ConfigIssue",
    "LoadedConfig",
    "Locator",
    "RouteConfig",
    "config_warnings",
    "format_path",
    "load_config",
    "load_config_text",
    "path_in_data",
    "startup_problems",
]
