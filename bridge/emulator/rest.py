"""The data-plane REST API: api-versions 2022-06-01 .. 2024-12-01 and legacy ``/api/v1``.

Status codes follow SIGNALR.md §3/§6. Choices where the service's behaviour is not
documented (each listed in README.md, "Deliberate differences"):

* ``api-version`` is required on ``/api/...`` (not ``/api/v1``) and must be one of
  ``SUPPORTED_API_VERSIONS``; otherwise 400 with ``x-ms-error-code``.
* Sends need ``Content-Type: application/json`` (415 otherwise); bodies over 1 MiB are 413.
* Closing or checking an unknown connection is 404 ``Warning.Connection.NotExisted``;
  adding/removing an unknown connection to/from a group is 404 ``Error.Connection.NotExisted``.
* ``UNSUPPORTED`` operations answer 501 with ``x-ms-error-code: Emulator.NotSupported``.
* ``HEAD /api/health`` needs no token.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from bridge.emulator import names
from bridge.emulator.auth import AuthError, RequestTarget, TokenValidator, bearer_token
from bridge.emulator.hub import ServiceState

MAX_BODY_BYTES = 1024 * 1024
SUPPORTED_API_VERSIONS = frozenset(
    {"2022-06-01", "2022-11-01", "2023-07-01", "2024-01-01", "2024-08-01", "2024-12-01"}
)
INT32_MAX = 2**31 - 1
NOT_SUPPORTED_CODE = "Emulator.NotSupported"

# (method, swagger path) the emulator answers with 501 on purpose; the OpenAPI walk test
# checks exactly this list.
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("GET", "/api/auth/accessKey"): "Microsoft Entra ID is not emulated; use the AccessKey.",
    ("POST", "/api/hubs/{hub}/:execute"): "OData filters of :execute are not emulated.",
    ("POST", "/api/hubs/{hub}/connections/{connectionId}/streams/{streamId}/:send"): (
        "Server-to-client streams are not emulated."
    ),
    ("POST", "/api/hubs/{hub}/connections/{connectionId}/streams/{streamId}/:complete"): (
        "Server-to-client streams are not emulated."
    ),
}


class RestError(Exception):
    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Call:
    """One authenticated, validated REST request."""

    request: web.Request
    hub: str
    legacy: bool

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def group(self) -> str:
        return names.check_group(self.param("group"))

    @property
    def user(self) -> str:
        return names.check_user(self.param("user"))

    @property
    def connection_id(self) -> str:
        return names.check_connection_id(self.param("connectionId"))

    @property
    def excluded(self) -> set[str]:
        return set(self.request.query.getall("excluded", []))

    @property
    def reason(self) -> str | None:
        return self.request.query.get("reason") or None


Operation = Callable[["RestApi", Call], Awaitable[web.StreamResponse]]


def request_target(request: web.Request, advertised_host: str) -> RequestTarget:
    return RequestTarget(request.scheme, {request.url.host or "", advertised_host})


def _empty(status: int) -> web.Response:
    return web.Response(status=status)


def _not_found(code: str, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message}, status=404, headers={"x-ms-error-code": code}
    )


def _error_response(error: RestError, *, legacy: bool) -> web.Response:
    headers = {"x-ms-error-code": error.code} if error.code else None
    if legacy and error.status == 400:
        return web.Response(status=400, text=error.message, headers=headers)
    body = {"code": error.code or web.Response(status=error.status).reason, "message": error.message}
    return web.json_response(body, status=error.status, headers=headers)


class RestApi:
    def __init__(
        self, state: ServiceState, validator: TokenValidator, advertised_host: str, *, invoke_timeout: float
    ) -> None:
        self.invoke_timeout = invoke_timeout
        self.state = state
        self.validator = validator
        self.advertised_host = advertised_host

    # wiring ------------------------------------------------------------------------
    def handler(self, op: Operation, *, legacy: bool, auth: bool = True) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                if auth:
                    self.validator.validate_rest(
                        bearer_token(request.headers, {}),
                        request_target(request, self.advertised_host),
                        request.rel_url.raw_path,
                    )
                if not legacy:
                    _check_api_version(request)
                hub = ""
                if "hub" in request.match_info:
                    hub = names.effective_hub(request.match_info["hub"], request.query.get("application"))
                return await op(self, Call(request, hub, legacy))
            except AuthError as exc:
                return web.json_response(
                    {"code": "Unauthorized", "message": exc.description or "Unauthorized"},
                    status=401,
                    headers={"WWW-Authenticate": exc.www_authenticate},
                )
            except names.InvalidNameError as exc:
                return _error_response(RestError(400, str(exc)), legacy=legacy)
            except RestError as exc:
                return _error_response(exc, legacy=legacy)

        return handle

    def unsupported(self, message: str) -> Handler:
        async def op(_api: RestApi, _call: Call) -> web.Response:
            raise RestError(501, message, code=NOT_SUPPORTED_CODE)

        return self.handler(op, legacy=False)

    # messages ----------------------------------------------------------------------
    async def broadcast(self, call: Call) -> web.Response:
        target, arguments = await read_payload(call.request)
        excluded = call.excluded
        self.state.send(
            (c for c in self.state.connections(call.hub) if c.id not in excluded), target, arguments
        )
        return _empty(202)

    async def send_to_user(self, call: Call) -> web.Response:
        user = names.check_user(call.param("user"))
        target, arguments = await read_payload(call.request)
        self.state.send(self.state.connections_of_user(call.hub, user), target, arguments)
        return _empty(202)

    async def send_to_group(self, call: Call) -> web.Response:
        group, excluded = call.group, call.excluded
        target, arguments = await read_payload(call.request)
        members = self.state.connections_in_group(call.hub, group)
        self.state.send((c for c in members if c.id not in excluded), target, arguments)
        return _empty(202)

    async def send_to_connection(self, call: Call) -> web.Response:
        connection_id = call.connection_id
        target, arguments = await read_payload(call.request)
        connection = self.state.connection(call.hub, connection_id)
        self.state.send([connection] if connection else [], target, arguments)
        return _empty(202)

    async def invoke(self, call: Call) -> web.Response:
        """Client results: a blocking Invocation whose Completion becomes the response.

        Every failure (the client answers with ``error``, closes, or stays silent for
        ``invoke_timeout``) is 500: the service's codes are undocumented, and 500 is the
        status a sender must not retry, so the invocation is never duplicated.
        """
        connection_id = call.connection_id
        target, arguments = await read_payload(call.request)
        connection = self.state.connection(call.hub, connection_id)
        if connection is None:
            return _not_found("Warning.Connection.NotExisted", "Connection does not exist.")
        try:
            async with asyncio.timeout(self.invoke_timeout):
                completion = await self.state.invoke(connection, target, arguments)
        except TimeoutError:
            raise RestError(500, "The client did not answer the invocation in time.") from None
        except ConnectionError as exc:
            raise RestError(500, str(exc)) from None
        if "error" in completion:
            raise RestError(500, f"The client answered with an error: {completion['error']}")
        return web.json_response({"result": completion.get("result")})

    # connections -------------------------------------------------------------------
    async def connection_exists(self, call: Call) -> web.Response:
        if self.state.connection(call.hub, call.connection_id) is None:
            return _not_found("Warning.Connection.NotExisted", "Connection does not exist.")
        return _empty(200)

    async def close_connection(self, call: Call) -> web.Response:
        connection = self.state.connection(call.hub, call.connection_id)
        if connection is None:
            return _not_found("Warning.Connection.NotExisted", "Connection does not exist.")
        self.state.close([connection], call.reason)
        return _empty(202 if call.legacy else 200)

    async def remove_connection_from_all_groups(self, call: Call) -> web.Response:
        connection = self.state.connection(call.hub, call.connection_id)
        if connection is not None:
            connection.groups.clear()
        return _empty(200)

    async def close_hub_connections(self, call: Call) -> web.Response:
        excluded = call.excluded
        self.state.close((c for c in self.state.connections(call.hub) if c.id not in excluded), call.reason)
        return _empty(204)

    async def close_group_connections(self, call: Call) -> web.Response:
        group, excluded = call.group, call.excluded
        members = self.state.connections_in_group(call.hub, group)
        self.state.close((c for c in members if c.id not in excluded), call.reason)
        return _empty(204)

    async def close_user_connections(self, call: Call) -> web.Response:
        user, excluded = call.user, call.excluded
        connections = self.state.connections_of_user(call.hub, user)
        self.state.close((c for c in connections if c.id not in excluded), call.reason)
        return _empty(204)

    # groups ------------------------------------------------------------------------
    async def group_exists(self, call: Call) -> web.Response:
        if not self.state.connections_in_group(call.hub, call.group):
            return _not_found("Warning.Group.NotExisted", "Group does not exist.")
        return _empty(200)

    async def add_connection_to_group(self, call: Call) -> web.Response:
        group = call.group
        connection = self.state.connection(call.hub, call.connection_id)
        if connection is None:
            return _not_found("Error.Connection.NotExisted", "Connection does not exist.")
        connection.groups.add(group)
        return _empty(200)

    async def remove_connection_from_group(self, call: Call) -> web.Response:
        group = call.group
        connection = self.state.connection(call.hub, call.connection_id)
        if connection is None:
            return _not_found("Error.Connection.NotExisted", "Connection does not exist.")
        connection.groups.discard(group)
        return _empty(200)

    async def list_group_connections(self, call: Call) -> web.Response:
        query = call.request.query
        group = call.group
        page_size = _int_query(query.get("maxpagesize"), default=200, low=1, high=200, name="maxpagesize")
        top = _int_query(query.get("top"), default=None, low=1, high=INT32_MAX, name="top")
        start = _int_query(
            query.get("continuationToken"), default=0, low=0, high=INT32_MAX, name="continuationToken"
        )
        members = sorted(self.state.connections_in_group(call.hub, group), key=lambda c: c.connected_at)
        limit = len(members) if top is None else min(top, len(members))
        end = min(start + page_size, limit)
        body: dict[str, Any] = {
            "value": [{"connectionId": c.id, "userId": c.user_id} for c in members[start:end]]
        }
        if end < limit:
            body["nextLink"] = str(call.request.url.update_query(continuationToken=str(end)))
        return web.json_response(body)

    # users -------------------------------------------------------------------------
    async def user_exists(self, call: Call) -> web.Response:
        if not self.state.connections_of_user(call.hub, call.user):
            return _not_found("Warning.User.NotExisted", "User does not exist.")
        return _empty(200)

    async def add_user_to_group(self, call: Call) -> web.Response:
        group, user = call.group, call.user
        ttl = _int_query(call.request.query.get("ttl"), default=None, low=0, high=INT32_MAX, name="ttl")
        self.state.add_user_to_group(call.hub, user, group, ttl)
        return _empty(202 if call.legacy else 200)

    async def remove_user_from_group(self, call: Call) -> web.Response:
        self.state.remove_user_from_group(call.hub, call.user, call.group)
        return _empty(202 if call.legacy else 204)

    async def remove_user_from_all_groups(self, call: Call) -> web.Response:
        self.state.remove_user_from_all_groups(call.hub, call.user)
        return _empty(200 if call.legacy else 204)

    async def user_in_group(self, call: Call) -> web.Response:
        if not self.state.user_in_group(call.hub, call.user, call.group):
            return _not_found("Info.User.NotInGroup", "User is not in the group.")
        return _empty(200)

    # tokens ------------------------------------------------------------------------
    async def generate_token(self, call: Call) -> web.Response:
        query = call.request.query
        minutes = _int_query(query.get("minutesToExpire"), default=60, low=1, high=INT32_MAX, name="minutes")
        user_id = query.get("userId")
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": f"{call.request.scheme}://{call.request.url.host}/client/?hub={call.hub}",
            "iat": now,
            "nbf": now,
            "exp": now + minutes * 60,
        }
        if user_id:
            claims["asrs.s.uid"] = user_id
        return web.json_response({"token": self.validator.issue(claims)})

    async def health(self, _call: Call) -> web.Response:
        return _empty(200)


def _check_api_version(request: web.Request) -> None:
    version = request.query.get("api-version")
    if not version:
        raise RestError(400, "The api-version query parameter is required.", code="ApiVersionUnspecified")
    if version not in SUPPORTED_API_VERSIONS:
        raise RestError(400, f"The api-version '{version}' is not supported.", code="UnsupportedApiVersion")


def _int_query(value: str | None, *, default: int | None, low: int, high: int, name: str) -> Any:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise RestError(400, f"'{name}' must be an integer.") from None
    if not low <= number <= high:
        raise RestError(400, f"'{name}' must be between {low} and {high}.")
    return number


def _is_json(content_type: str) -> bool:
    return content_type in {"application/json", "text/json"} or content_type.endswith("+json")


async def read_payload(request: web.Request) -> tuple[str, list[Any]]:
    """The PayloadMessage of a send: (target, arguments)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise RestError(413, "The request body is larger than 1 MB.")
    if "Content-Type" not in request.headers or not _is_json(request.content_type):
        raise RestError(415, "The body must be application/json.")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RestError(413, "The request body is larger than 1 MB.") from None
    if len(raw) > MAX_BODY_BYTES:
        raise RestError(413, "The request body is larger than 1 MB.")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RestError(400, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise RestError(400, "The body must be a JSON object.")
    # ASP.NET binds JSON property names case-insensitively (v1 documents Target/Arguments).
    fields = {key.lower(): value for key, value in body.items()}
    target, arguments = fields.get("target"), fields.get("arguments")
    if not isinstance(target, str) or not target:
        raise RestError(400, "The 'target' field is required.")
    if arguments is None:
        arguments = []
    if not isinstance(arguments, list):
        raise RestError(400, "The 'arguments' field must be an array.")
    return target, arguments
