"""The bridge's config file: schema, loading, and error reporting."""

from .errors import ConfigError, ConfigIssue
from .loader import LoadedConfig, config_warnings, load_config, load_config_text, startup_problems
from .schema import BridgeConfig, RouteConfig

__all__ = [
    "BridgeConfig",
    "ConfigError",
    "ConfigIssue",
    "LoadedConfig",
    "RouteConfig",
    "config_warnings",
    "load_config",
    "load_config_text",
    "startup_problems",
]
