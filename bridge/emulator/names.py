"""Name rules of the service (SIGNALR.md §3, §6) and the hub-name mapping it applies."""

from __future__ import annotations

import re

HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}$")
MAX_GROUP_LENGTH = 1024
MAX_USER_LENGTH = 1024
MAX_STREAM_ID_LENGTH = 100


class InvalidNameError(ValueError):
    """A hub, application, group, user or connection name the service refuses (400)."""


def effective_hub(hub: str, application: str | None = None) -> str:
    """The hub name clients use in ``?hub=``: ``{app}_{hub}``, lower-cased.

    The service looks hubs up case-insensitively and the SDK always lower-cases them,
    so the emulator keys every hub by its lower-case form.
    """
    if not HUB_NAME.fullmatch(hub):
        raise InvalidNameError(f"Invalid hub name '{hub}'.")
    if application is None:
        return hub.lower()
    if not HUB_NAME.fullmatch(application):
        raise InvalidNameError(f"Invalid application name '{application}'.")
    return f"{application}_{hub}".lower()


def check_group(group: str) -> str:
    if not 1 <= len(group) <= MAX_GROUP_LENGTH or group.isspace():
        raise InvalidNameError("Group name must be 1..1024 characters and not only white space.")
    return group


def check_user(user: str) -> str:
    if not 1 <= len(user) <= MAX_USER_LENGTH:
        raise InvalidNameError("User id must be 1..1024 characters.")
    return user


def check_connection_id(connection_id: str) -> str:
    if not connection_id:
        raise InvalidNameError("Connection id must not be empty.")
    return connection_id


def check_stream_id(stream_id: str) -> str:
    if not 1 <= len(stream_id) <= MAX_STREAM_ID_LENGTH:
        raise InvalidNameError("Stream id must be 1..100 characters.")
    return stream_id
