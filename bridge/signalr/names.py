"""Name rules of the data-plane API (SIGNALR.md §3, §6), checked before any request is made.

A name the service would reject with 400 fails here with :class:`PreflightError`
so it is never retried and never costs a round trip.
"""

from __future__ import annotations

import re

from .errors import PreflightError

HUB_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}$")
MAX_NAME_LENGTH = 1024  # groups; users where the swagger declares a limit
MAX_STREAM_ID_LENGTH = 100


def check_hub(name: str, *, what: str = "hub") -> str:
    """Return ``name`` lower-cased (as the SDK sends it) or raise if it breaks the hub/application rule."""
    if not HUB_PATTERN.match(name):
        raise PreflightError(
            f"{what} name {name[:140]!r} must start with a letter and contain only letters, digits "
            "and _`,.[] (1..128 characters)"
        )
    return name.lower()


def check_group(name: str) -> str:
    if not name or name.isspace():
        raise PreflightError("group name must not be empty or whitespace only")
    if len(name) > MAX_NAME_LENGTH:
        raise PreflightError(f"group name is {len(name)} characters, the limit is {MAX_NAME_LENGTH}")
    return name


def check_user(user_id: str) -> str:
    if not user_id:
        raise PreflightError("user id must not be empty")
    if len(user_id) > MAX_NAME_LENGTH:
        raise PreflightError(f"user id is {len(user_id)} characters, the limit is {MAX_NAME_LENGTH}")
    return user_id


def check_connection_id(connection_id: str, *, what: str = "connection id") -> str:
    if not connection_id:
        raise PreflightError(f"{what} must not be empty")
    return connection_id


def check_target(target: str) -> str:
    if not target:
        raise PreflightError("message target must not be empty")
    return target
