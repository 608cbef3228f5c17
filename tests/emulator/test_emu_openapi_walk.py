"""Every path and method of the published swaggers is served, or refused on purpose.

For each operation a fresh connection of user ``walkuser`` is opened in hub ``walkhub``
and put in group ``walkgroup`` (by connection and by user), so existence checks are
true and close operations have something to close. The answer must be a 2xx status
the swagger declares for the operation, or exactly the documented 501 of
``bridge.emulator.rest.UNSUPPORTED``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from emu_support import RS, Clients, RawClient, Rest

from bridge.emulator.rest import NOT_SUPPORTED_CODE, UNSUPPORTED

pytestmark = pytest.mark.integration

SWAGGERS = Path(__file__).parent / "swagger"
FILES = {
    "v20241201.json": "2024-12-01",
    "V20230701.json": "2023-07-01",
    "V20220601.json": "2022-06-01",
    "v1.json": None,
}
METHODS = {"get", "put", "post", "delete", "head", "patch"}


def _operations() -> list[Any]:
    cases = []
    for name, version in FILES.items():
        spec = json.loads((SWAGGERS / name).read_text())
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                if method in METHODS:
                    cases.append(
                        pytest.param((version, method.upper(), path, operation), id=f"{name}:{method}:{path}")
                    )
    return cases


async def _answer_invocation(client: RawClient) -> None:
    """Play the client's part of a client-result invocation."""
    invocation = await client.next()
    completion = {"type": 3, "invocationId": invocation["invocationId"], "result": "answered"}
    await client.ws.send_str(json.dumps(completion) + RS)


def _has_body(operation: dict[str, Any]) -> bool:
    in_body = any(p.get("in") == "body" for p in operation.get("parameters", []))
    return in_body or "requestBody" in operation


def test_the_walk_covers_all_three_required_versions() -> None:
    ids = {case.id.split(":")[0] for case in _operations()}
    assert {"v20241201.json", "V20220601.json", "v1.json"} <= ids
    assert len(_operations()) >= 60


@pytest.mark.parametrize("case", _operations())
async def test_operation_is_served(rest: Rest, clients: Clients, case: tuple[Any, ...]) -> None:
    version, method, path, operation = case
    client = await clients.connect("walkhub", "walkuser")
    await rest.call("PUT", f"/api/hubs/walkhub/groups/walkgroup/connections/{client.connection_id}")
    await rest.call("PUT", "/api/hubs/walkhub/users/walkuser/groups/walkgroup")
    values = {
        "hub": "walkhub",
        "connectionId": client.connection_id,
        "group": "walkgroup",
        "user": "walkuser",
        "id": "walkuser",
        "streamId": "s1",
    }
    url = path.format(**values)
    body: Any = None
    if _has_body(operation):
        body = {"target": "walked", "arguments": [path]}
        if path.endswith(":execute"):
            body = [{"type": "SendMessage", "message": body}]
    answering = asyncio.create_task(_answer_invocation(client)) if path.endswith(":invoke") else None
    response = await rest.call(method, url, json_body=body, api_version=version)
    if answering is not None:
        await answering

    if (method, path) in UNSUPPORTED:
        assert response.status_code == 501
        assert response.headers["x-ms-error-code"] == NOT_SUPPORTED_CODE
        return
    declared = {int(code) for code in operation["responses"] if code.isdigit() and code.startswith("2")}
    assert response.status_code in declared, (response.status_code, response.text)


def test_every_unsupported_operation_exists_in_a_swagger() -> None:
    known = {(case.values[0][1], case.values[0][2]) for case in _operations()}
    assert set(UNSUPPORTED) <= known
