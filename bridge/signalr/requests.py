"""Turn an action into the exact REST request the service expects (pure: no I/O).

Paths follow the 2022-06-01 / 2023-07-01 / 2024-12-01 swaggers (identical for
these operations) or legacy v1 (SIGNALR.md §3, §3.1). Hub and application names
are lower-cased as the SDK does; every path segment is percent-encoded like
.NET's ``Uri.EscapeDataString``; ``application`` travels as a query parameter
(the service then addresses hub ``{application}_{hub}``).

Pre-flight checks raise :class:`PreflightError` for anything the service would
refuse permanently: bad names, a body over 1 MB, a request line or headers over
the service's size limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from .actions import (
    Action,
    AddConnectionToGroup,
    AddUserToGroup,
    CloseConnection,
    RemoveConnectionFromAllGroups,
    RemoveConnectionFromGroup,
    RemoveUserFromAllGroups,
    RemoveUserFromGroup,
    SendToAll,
    SendToConnection,
    SendToGroup,
    SendToUser,
)
from .errors import PreflightError
from .names import check_connection_id, check_group, check_hub, check_target, check_user

DEFAULT_API_VERSION: Final = "2022-06-01"
API_VERSIONS: Final = ("2022-06-01", "2023-07-01", "2024-12-01", "v1")
MAX_BODY_BYTES: Final = 1024 * 1024  # REST reference "Limitations": 1 MB body
MAX_HEADER_BYTES: Final = 16 * 1024  # ... and 16 KB of headers
MAX_URI_CHARS: Final = 12 * 1024  # service TSG: URI max 12K
# Authorization carries a JWT whose aud repeats the path: base64 grows it by 4/3; the
# JSON header, exp/iat, signature and the other headers fit comfortably in 1 KB.
_HEADER_OVERHEAD_BYTES: Final = 1024

# x-ms-error-code values the service puts on a 404 (SIGNALR.md §6).
CONNECTION_NOT_EXISTED_WARNING: Final = "Warning.Connection.NotExisted"
CONNECTION_NOT_EXISTED_ERROR: Final = "Error.Connection.NotExisted"
USER_NOT_EXISTED: Final = "Warning.User.NotExisted"
GROUP_NOT_EXISTED: Final = "Warning.Group.NotExisted"
USER_NOT_IN_GROUP: Final = "Info.User.NotInGroup"
_ALL_NOT_FOUND_CODES: Final = frozenset(
    {CONNECTION_NOT_EXISTED_WARNING, CONNECTION_NOT_EXISTED_ERROR, USER_NOT_EXISTED, GROUP_NOT_EXISTED}
    | {USER_NOT_IN_GROUP}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestRequest:
    """One data-plane call. ``path`` is already percent-encoded; ``url(base)`` adds the query."""

    operation: str
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = field(default=None, hash=False)
    content: bytes | None = field(default=None, repr=False, compare=False, hash=False)
    is_message: bool = False
    """A send: the service may have delivered it even when it answers 500 (duplicate risk on retry)."""
    is_check: bool = False
    """An existence check: 404 with a known ``x-ms-error-code`` means "no", not failure."""
    benign_not_found: frozenset[str] = frozenset()
    """``x-ms-error-code`` values on a 404 that mean the desired state already holds."""
    at_most_once: bool = False
    """Never retried once it may have reached a client (``:invoke`` runs client code)."""
    returns_body: bool = False
    """The caller needs the JSON answer (token, member list, invocation result)."""

    def target(self) -> str:
        """Path and query, as on the request line."""
        return f"{self.path}?{urlencode(self.query, quote_via=quote)}" if self.query else self.path

    def url(self, base: str) -> str:
        return base.rstrip("/") + self.target()

    def audience(self, audience_base: str) -> str:
        """JWT ``aud`` for this call: the URL without query or trailing slash, on the audience base."""
        return audience_base.rstrip("/") + self.path.rstrip("/")

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json"} if self.content is not None else {}


def build_request(
    action: Action,
    *,
    hub: str,
    api_version: str = DEFAULT_API_VERSION,
    application: str | None = None,
) -> RestRequest:
    """The request for ``action``; ``hub`` is the default hub, overridden by ``action.hub``."""
    b = _Builder(action.hub or hub, api_version, application)
    request: RestRequest
    match action:
        case SendToAll():
            request = b.message(action, ["hubs", b.hub], "send_to_all", excluded=action.excluded)
        case SendToUser():
            request = b.message(action, ["hubs", b.hub, "users", check_user(action.user_id)], "send_to_user")
        case SendToGroup():
            path = ["hubs", b.hub, "groups", check_group(action.group)]
            request = b.message(action, path, "send_to_group", excluded=action.excluded)
        case SendToConnection():
            path = ["hubs", b.hub, "connections", check_connection_id(action.connection_id)]
            request = b.message(action, path, "send_to_connection")
        case AddUserToGroup():
            if action.ttl is not None and not 0 <= action.ttl <= 2**31 - 1:
                raise PreflightError(f"ttl {action.ttl} must be 0..2147483647 seconds")
            ttl = [] if action.ttl is None else [("ttl", str(action.ttl))]
            request = b.call("add_user_to_group", "PUT", b.user_group(action.user_id, action.group), ttl)
        case RemoveUserFromGroup():
            request = b.call(
                "remove_user_from_group",
                "DELETE",
                b.user_group(action.user_id, action.group),
                benign={USER_NOT_IN_GROUP, USER_NOT_EXISTED, GROUP_NOT_EXISTED},
            )
        case RemoveUserFromAllGroups():
            path = ["hubs", b.hub, "users", check_user(action.user_id), "groups"]
            request = b.call("remove_user_from_all_groups", "DELETE", path, benign={USER_NOT_EXISTED})
        case AddConnectionToGroup():
            path = b.group_connection(action.group, action.connection_id)
            request = b.call("add_connection_to_group", "PUT", path)
        case RemoveConnectionFromGroup():
            path = b.group_connection(action.group, action.connection_id)
            # A connection that is gone is in no group: the desired state holds.
            benign = {CONNECTION_NOT_EXISTED_ERROR, CONNECTION_NOT_EXISTED_WARNING, GROUP_NOT_EXISTED}
            request = b.call("remove_connection_from_group", "DELETE", path, benign=benign)
        case RemoveConnectionFromAllGroups():
            if b.v1:
                raise PreflightError("removing a connection from all groups needs api-version 2022-06-01+")
            path = ["hubs", b.hub, "connections", check_connection_id(action.connection_id), "groups"]
            benign = {CONNECTION_NOT_EXISTED_ERROR, CONNECTION_NOT_EXISTED_WARNING}
            request = b.call("remove_connection_from_all_groups", "DELETE", path, benign=benign)
        case CloseConnection():
            path = ["hubs", b.hub, "connections", check_connection_id(action.connection_id)]
            reason = [] if action.reason is None else [("reason", action.reason)]
            benign = {CONNECTION_NOT_EXISTED_ERROR, CONNECTION_NOT_EXISTED_WARNING}
            request = b.call("close_connection", "DELETE", path, reason, benign=benign)
    check_size(request)
    return request


# --- operations that are not actions: health, existence checks, bulk close --------------------


def health_request(*, api_version: str = DEFAULT_API_VERSION) -> RestRequest:
    path = "/api/v1/health" if api_version == "v1" else "/api/health"
    query = () if api_version == "v1" else (("api-version", api_version),)
    return RestRequest(operation="health", method="HEAD", path=path, query=query, is_check=True)


def connection_exists_request(
    connection_id: str, *, hub: str, api_version: str = DEFAULT_API_VERSION, application: str | None = None
) -> RestRequest:
    b = _Builder(hub, api_version, application)
    path = ["hubs", b.hub, "connections", check_connection_id(connection_id)]
    return b.check("connection_exists", path)


def user_exists_request(
    user_id: str, *, hub: str, api_version: str = DEFAULT_API_VERSION, application: str | None = None
) -> RestRequest:
    b = _Builder(hub, api_version, application)
    return b.check("user_exists", ["hubs", b.hub, "users", check_user(user_id)])


def group_exists_request(
    group: str, *, hub: str, api_version: str = DEFAULT_API_VERSION, application: str | None = None
) -> RestRequest:
    b = _Builder(hub, api_version, application)
    return b.check("group_exists", ["hubs", b.hub, "groups", check_group(group)])


def user_in_group_request(
    user_id: str,
    group: str,
    *,
    hub: str,
    api_version: str = DEFAULT_API_VERSION,
    application: str | None = None,
) -> RestRequest:
    b = _Builder(hub, api_version, application)
    return b.check("user_in_group", b.user_group(user_id, group))


def close_connections_request(
    *,
    hub: str,
    group: str | None = None,
    user_id: str | None = None,
    excluded: Sequence[str] = (),
    reason: str | None = None,
    api_version: str = DEFAULT_API_VERSION,
    application: str | None = None,
) -> RestRequest:
    """Close every connection of the hub, or of one group, or of one user (2022-06-01+)."""
    b = _Builder(hub, api_version, application)
    if b.v1:
        raise PreflightError("closing connections in bulk needs api-version 2022-06-01+")
    if group is not None and user_id is not None:
        raise PreflightError("close connections of a group or of a user, not both")
    path = ["hubs", b.hub]
    if group is not None:
        path += ["groups", check_group(group)]
    elif user_id is not None:
        path += ["users", check_user(user_id)]
    extra = [("excluded", check_connection_id(c, what="excluded connection id")) for c in excluded]
    if reason is not None:
        extra.append(("reason", reason))
    request = b.call("close_connections", "POST", path, extra, suffix="/:closeConnections")
    check_size(request)
    return request


def generate_token_request(
    *,
    hub: str,
    user_id: str | None = None,
    minutes_to_expire: int = 60,
    api_version: str = DEFAULT_API_VERSION,
) -> RestRequest:
    """``POST :generateToken`` (2023-07-01+; the only way to a client token under Entra auth)."""
    b = _Builder(hub, _at_least(api_version, "2023-07-01", "generating client tokens"), None)
    if minutes_to_expire < 1:
        raise PreflightError("minutes_to_expire must be at least 1")
    extra = [("minutesToExpire", str(minutes_to_expire))]
    if user_id is not None:
        extra.insert(0, ("userId", check_user(user_id)))
    request = b.call("generate_token", "POST", ["hubs", b.hub], extra, suffix="/:generateToken")
    return replace(request, returns_body=True)


def list_group_connections_request(
    group: str,
    *,
    hub: str,
    max_page_size: int = 200,
    top: int | None = None,
    api_version: str = DEFAULT_API_VERSION,
    application: str | None = None,
) -> RestRequest:
    """First page of ``GET .../groups/{group}/connections`` (2024-12-01); later pages follow ``nextLink``."""
    b = _Builder(hub, _at_least(api_version, "2024-12-01", "listing group members"), application)
    if not 1 <= max_page_size <= 200:
        raise PreflightError("max_page_size must be 1..200")
    extra = [("maxpagesize", str(max_page_size))]
    if top is not None:
        if top < 1:
            raise PreflightError("top must be at least 1")
        extra.append(("top", str(top)))
    request = b.call(
        "list_group_connections", "GET", ["hubs", b.hub, "groups", check_group(group), "connections"], extra
    )
    return replace(request, returns_body=True)


def invoke_request(
    connection_id: str,
    target: str,
    arguments: Sequence[Any] = (),
    *,
    hub: str,
    api_version: str = DEFAULT_API_VERSION,
    application: str | None = None,
) -> RestRequest:
    """``POST .../connections/{id}/:invoke`` (2024-12-01): call a client method and get its result."""
    b = _Builder(hub, _at_least(api_version, "2024-12-01", "client invocations"), application)
    content = encode_body(check_target(target), arguments)
    request = b.call(
        "invoke",
        "POST",
        ["hubs", b.hub, "connections", check_connection_id(connection_id)],
        suffix="/:invoke",
        content=content,
        body={"target": target, "arguments": list(arguments)},
        is_message=True,
    )
    check_size(request)
    return replace(request, at_most_once=True, returns_body=True)


def next_page_request(previous: RestRequest, next_link: str, base: str) -> RestRequest:
    """The request for a ``nextLink``; refused unless it points at the same endpoint (tokens stay home)."""
    link, home = urlsplit(next_link), urlsplit(base)
    if (link.scheme, link.netloc) != (home.scheme, home.netloc):
        raise PreflightError(f"nextLink points at {link.scheme}://{link.netloc}, not at this endpoint")
    return replace(previous, path=link.path, query=tuple(parse_qsl(link.query, keep_blank_values=True)))


def _at_least(api_version: str, minimum: str, what: str) -> str:
    """The api-version for an operation newer than the configured one: raised to ``minimum``."""
    if api_version == "v1":
        raise PreflightError(f"{what} needs api-version {minimum}+, not v1")
    return max(api_version, minimum)


def check_size(request: RestRequest) -> None:
    """Raise :class:`PreflightError` if the service would refuse the request for its size."""
    if request.content is not None and len(request.content) > MAX_BODY_BYTES:
        raise PreflightError(
            f"{request.operation}: body is {len(request.content)} bytes, the REST limit is {MAX_BODY_BYTES}"
        )
    target = request.target()
    if len(target) > MAX_URI_CHARS:
        raise PreflightError(
            f"{request.operation}: request URI is {len(target)} characters, the limit is {MAX_URI_CHARS}"
        )
    header_bytes = len(target) + len(request.path) * 4 // 3 + _HEADER_OVERHEAD_BYTES
    if header_bytes > MAX_HEADER_BYTES:
        raise PreflightError(
            f"{request.operation}: request line and headers would be about {header_bytes} bytes, "
            f"the limit is {MAX_HEADER_BYTES}"
        )


def encode_body(target: str, arguments: Sequence[Any]) -> bytes:
    """The PayloadMessage JSON; non-JSON arguments fail pre-flight rather than at send time."""
    try:
        return json.dumps(
            {"target": target, "arguments": list(arguments)},
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise PreflightError(f"message arguments are not JSON: {exc}") from None


class _Builder:
    """Shared path/query assembly for one hub, api-version and application."""

    def __init__(self, hub: str, api_version: str, application: str | None) -> None:
        if api_version not in API_VERSIONS:
            raise PreflightError(f"api-version {api_version!r} is not one of {', '.join(API_VERSIONS)}")
        self.v1 = api_version == "v1"
        self.hub = check_hub(hub)
        self.prefix = "/api/v1" if self.v1 else "/api"
        common: list[tuple[str, str]] = []
        if application:
            common.append(("application", check_hub(application, what="application")))
        if not self.v1:
            common.append(("api-version", api_version))
        self.common = common

    def path(self, segments: Sequence[str], suffix: str = "") -> str:
        """Percent-encode every name segment; ``suffix`` is a literal operation like ``/:send``."""
        return self.prefix + "".join("/" + quote(s, safe="") for s in segments) + suffix

    def call(
        self,
        operation: str,
        method: str,
        segments: Sequence[str],
        extra: Sequence[tuple[str, str]] = (),
        *,
        benign: set[str] | frozenset[str] = frozenset(),
        suffix: str = "",
        content: bytes | None = None,
        body: Mapping[str, Any] | None = None,
        is_message: bool = False,
    ) -> RestRequest:
        return RestRequest(
            operation=operation,
            method=method,
            path=self.path(segments, suffix),
            query=(*self.common, *extra),
            body=body,
            content=content,
            is_message=is_message,
            benign_not_found=frozenset(benign),
        )

    def message(
        self,
        action: SendToAll | SendToUser | SendToGroup | SendToConnection,
        segments: list[str],
        operation: str,
        *,
        excluded: Sequence[str] = (),
    ) -> RestRequest:
        suffix = "" if self.v1 else "/:send"
        content = encode_body(check_target(action.target), action.arguments)
        body = {"target": action.target, "arguments": list(action.arguments)}
        extra = [("excluded", check_connection_id(c, what="excluded connection id")) for c in excluded]
        return self.call(
            operation, "POST", segments, extra, suffix=suffix, content=content, body=body, is_message=True
        )

    def user_group(self, user_id: str, group: str) -> list[str]:
        user, grp = check_user(user_id), check_group(group)
        if self.v1:
            return ["hubs", self.hub, "groups", grp, "users", user]
        return ["hubs", self.hub, "users", user, "groups", grp]

    def group_connection(self, group: str, connection_id: str) -> list[str]:
        connection = check_connection_id(connection_id)
        return ["hubs", self.hub, "groups", check_group(group), "connections", connection]

    def check(self, operation: str, segments: Sequence[str]) -> RestRequest:
        # HEAD, as the swagger declares; the SDK's GET for user-in-group answers the same codes.
        request = RestRequest(
            operation=operation,
            method="HEAD",
            path=self.path(segments),
            query=tuple(self.common),
            is_check=True,
            benign_not_found=_ALL_NOT_FOUND_CODES,
        )
        check_size(request)
        return request
