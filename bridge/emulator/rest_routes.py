"""URL table of the REST API: one line per (method, path) of the swaggers."""

from __future__ import annotations

from aiohttp import web

from bridge.emulator.rest import UNSUPPORTED, Operation, RestApi

H = "/api/hubs/{hub}"
V1 = "/api/v1/hubs/{hub}"

# api-version 2022-06-01 .. 2024-12-01. Existence checks also answer GET: the SDK sends
# GET for "user in group" although the swagger says HEAD.
CURRENT: list[tuple[str, str, Operation]] = [
    ("POST", f"{H}/:send", RestApi.broadcast),
    ("POST", f"{H}/users/{{user}}/:send", RestApi.send_to_user),
    ("POST", f"{H}/groups/{{group}}/:send", RestApi.send_to_group),
    ("POST", f"{H}/connections/{{connectionId}}/:send", RestApi.send_to_connection),
    ("POST", f"{H}/connections/{{connectionId}}/:invoke", RestApi.invoke),
    ("HEAD", f"{H}/connections/{{connectionId}}", RestApi.connection_exists),
    ("GET", f"{H}/connections/{{connectionId}}", RestApi.connection_exists),
    ("DELETE", f"{H}/connections/{{connectionId}}", RestApi.close_connection),
    ("DELETE", f"{H}/connections/{{connectionId}}/groups", RestApi.remove_connection_from_all_groups),
    ("HEAD", f"{H}/groups/{{group}}", RestApi.group_exists),
    ("GET", f"{H}/groups/{{group}}", RestApi.group_exists),
    ("GET", f"{H}/groups/{{group}}/connections", RestApi.list_group_connections),
    ("PUT", f"{H}/groups/{{group}}/connections/{{connectionId}}", RestApi.add_connection_to_group),
    ("DELETE", f"{H}/groups/{{group}}/connections/{{connectionId}}", RestApi.remove_connection_from_group),
    ("HEAD", f"{H}/users/{{user}}", RestApi.user_exists),
    ("GET", f"{H}/users/{{user}}", RestApi.user_exists),
    ("PUT", f"{H}/users/{{user}}/groups/{{group}}", RestApi.add_user_to_group),
    ("DELETE", f"{H}/users/{{user}}/groups/{{group}}", RestApi.remove_user_from_group),
    ("HEAD", f"{H}/users/{{user}}/groups/{{group}}", RestApi.user_in_group),
    ("GET", f"{H}/users/{{user}}/groups/{{group}}", RestApi.user_in_group),
    ("DELETE", f"{H}/users/{{user}}/groups", RestApi.remove_user_from_all_groups),
    ("POST", f"{H}/:closeConnections", RestApi.close_hub_connections),
    ("POST", f"{H}/groups/{{group}}/:closeConnections", RestApi.close_group_connections),
    ("POST", f"{H}/users/{{user}}/:closeConnections", RestApi.close_user_connections),
    ("POST", f"{H}/:generateToken", RestApi.generate_token),
]

# Legacy /api/v1 (swagger v1.json): no api-version, sends without /:send, the
# user-group path is groups/{group}/users/{user}.
LEGACY: list[tuple[str, str, Operation]] = [
    ("POST", V1, RestApi.broadcast),
    ("POST", f"{V1}/users/{{user}}", RestApi.send_to_user),
    ("POST", f"{V1}/connections/{{connectionId}}", RestApi.send_to_connection),
    ("GET", f"{V1}/connections/{{connectionId}}", RestApi.connection_exists),
    ("HEAD", f"{V1}/connections/{{connectionId}}", RestApi.connection_exists),
    ("DELETE", f"{V1}/connections/{{connectionId}}", RestApi.close_connection),
    ("POST", f"{V1}/groups/{{group}}", RestApi.send_to_group),
    ("GET", f"{V1}/groups/{{group}}", RestApi.group_exists),
    ("HEAD", f"{V1}/groups/{{group}}", RestApi.group_exists),
    ("GET", f"{V1}/users/{{user}}", RestApi.user_exists),
    ("HEAD", f"{V1}/users/{{user}}", RestApi.user_exists),
    ("PUT", f"{V1}/groups/{{group}}/connections/{{connectionId}}", RestApi.add_connection_to_group),
    ("DELETE", f"{V1}/groups/{{group}}/connections/{{connectionId}}", RestApi.remove_connection_from_group),
    ("GET", f"{V1}/groups/{{group}}/users/{{user}}", RestApi.user_in_group),
    ("HEAD", f"{V1}/groups/{{group}}/users/{{user}}", RestApi.user_in_group),
    ("PUT", f"{V1}/groups/{{group}}/users/{{user}}", RestApi.add_user_to_group),
    ("DELETE", f"{V1}/groups/{{group}}/users/{{user}}", RestApi.remove_user_from_group),
    ("DELETE", f"{V1}/users/{{user}}/groups", RestApi.remove_user_from_all_groups),
]


def add_rest_routes(router: web.UrlDispatcher, api: RestApi) -> None:
    for legacy, table in ((False, CURRENT), (True, LEGACY)):
        for method, path, op in table:
            router.add_route(method, path, api.handler(op, legacy=legacy))
    for path in ("/api/health", "/api/v1/health"):
        for method in ("HEAD", "GET"):
            router.add_route(method, path, api.handler(RestApi.health, legacy=True, auth=False))
    for (method, path), message in UNSUPPORTED.items():
        router.add_route(method, path, api.unsupported(message))
