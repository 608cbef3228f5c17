"""Optional extras a connection string needs, checked without importing them for good."""

from __future__ import annotations

import importlib

from .connection_string import ConnectionString

AZURE_EXTRA_HINT = "pip install 'signalr-bridge[azure]'"


def missing_dependency(conn: ConnectionString) -> str | None:
    """Why ``conn`` cannot be used with what is installed here (a missing extra), or None."""
    if not conn.uses_entra:
        return None
    try:
        importlib.import_module("azure.identity.aio")
    except ImportError:
        return f"AuthType={conn.auth_type} needs azure-identity: {AZURE_EXTRA_HINT}"
    return None
