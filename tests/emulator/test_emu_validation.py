"""Names, bodies, api-versions and query values the service refuses."""

from __future__ import annotations

import pytest
from emu_support import Rest

pytestmark = pytest.mark.integration

BODY = {"target": "t", "arguments": [1]}


@pytest.mark.parametrize(
    "path",
    [
        "/api/hubs/1chat/:send",  # hub must start with a letter
        "/api/hubs/ch-at/:send",  # '-' is not allowed in hub names
        "/api/hubs/" + "h" * 129 + "/:send",
        "/api/hubs/chat/groups/%20%20/:send",  # whitespace-only group
        "/api/hubs/chat/groups/" + "g" * 1025 + "/:send",
    ],
    ids=["digit-first", "dash", "long-hub", "blank-group", "long-group"],
)
async def test_invalid_names_are_400(rest: Rest, path: str) -> None:
    assert (await rest.call("POST", path, json_body=BODY)).status_code == 400


async def test_invalid_application_is_400(rest: Rest) -> None:
    response = await rest.call("POST", "/api/hubs/chat/:send", json_body=BODY, params={"application": "9x"})
    assert response.status_code == 400


async def test_longest_valid_names_are_accepted(rest: Rest) -> None:
    path = "/api/hubs/" + "h" * 128 + "/groups/" + "g" * 1024 + "/:send"
    assert (await rest.call("POST", path, json_body=BODY)).status_code == 202


@pytest.mark.parametrize(
    "body",
    [{"arguments": [1]}, {"target": ""}, {"target": 5}, {"target": "t", "arguments": "x"}, ["t"]],
    ids=["no-target", "empty-target", "number-target", "arguments-not-array", "not-object"],
)
async def test_bad_payloads_are_400(rest: Rest, body: object) -> None:
    assert (await rest.call("POST", "/api/hubs/chat/:send", json_body=body)).status_code == 400


async def test_invalid_json_is_400(rest: Rest) -> None:
    response = await rest.call(
        "POST", "/api/hubs/chat/:send", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_body_over_one_megabyte_is_413_and_just_under_is_accepted(rest: Rest) -> None:
    big = {"target": "t", "arguments": ["x" * (1024 * 1024)]}
    assert (await rest.call("POST", "/api/hubs/chat/:send", json_body=big)).status_code == 413
    fits = {"target": "t", "arguments": ["x" * (1024 * 1024 - 100)]}
    assert (await rest.call("POST", "/api/hubs/chat/:send", json_body=fits)).status_code == 202


async def test_non_json_content_type_is_415(rest: Rest) -> None:
    response = await rest.call(
        "POST", "/api/hubs/chat/:send", content=b'{"target":"t"}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415


async def test_api_version_is_required_and_must_be_known(rest: Rest) -> None:
    missing = await rest.call("POST", "/api/hubs/chat/:send", json_body=BODY, api_version=None)
    assert (missing.status_code, missing.headers["x-ms-error-code"]) == (400, "ApiVersionUnspecified")
    unknown = await rest.call("POST", "/api/hubs/chat/:send", json_body=BODY, api_version="2019-01-01")
    assert (unknown.status_code, unknown.headers["x-ms-error-code"]) == (400, "UnsupportedApiVersion")
    for version in ("2022-06-01", "2023-07-01", "2024-12-01"):
        ok = await rest.call("POST", "/api/hubs/chat/:send", json_body=BODY, api_version=version)
        assert ok.status_code == 202


@pytest.mark.parametrize("ttl", ["-1", "abc", str(2**31)])
async def test_bad_ttl_is_400(rest: Rest, ttl: str) -> None:
    response = await rest.call("PUT", "/api/hubs/chat/users/u/groups/g", params={"ttl": ttl})
    assert response.status_code == 400


async def test_legacy_400_has_a_plain_text_reason(rest: Rest) -> None:
    response = await rest.call("POST", "/api/v1/hubs/1bad", json_body=BODY)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "hub" in response.text


async def test_unknown_path_is_404_without_error_code(rest: Rest) -> None:
    response = await rest.call("POST", "/api/hubs/chat/nothing/here", json_body=BODY)
    assert response.status_code == 404
    assert "x-ms-error-code" not in response.headers
