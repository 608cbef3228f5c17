"""Route tests: a record in, the SignalR requests (or the dead-letter reason) out, from a YAML file.

The format (``signalr-bridge test FILE...``; ``config/*.test.yaml`` are examples)::

    config: chat.yaml                  # the config under test, relative to this file
    tests:
      - name: a room message reaches the room
        record:                        # topic is required; key, headers, value, partition,
          topic: chat-messages         # offset and timestamp (epoch ms) are optional
          key: "42"
          value: {type: message, roomId: "42", text: hi}   # text stays text; anything else is JSON
        requests:                      # every request, in order ([] for none)
          - route: room-messages       # optional
            method: POST
            path: /api/hubs/chat/groups/room-42/:send      # query included, api-version left out
            body: {target: newMessage, arguments: [hi]}    # optional
      - name: a value that is not JSON
        record: {topic: chat-messages, value: "not json"}
        dead_letter: decode_error      # the record fails with this reason

A case passes when the requests are exactly the expected ones (comparing only the keys
given: ``route`` and ``body`` may be left out) or the record fails with the expected reason.
A failing case shows expected and actual as a unified diff of YAML. Nothing is sent and the
network is never touched: requests are built as ``signalr-bridge route`` builds them.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from bridge.config import BridgeConfig, ConfigError, ConfigIssue, load_config
from bridge.config.errors import Locator, pydantic_issue
from bridge.config.loader import read_text
from bridge.config.schema import FailureReason
from bridge.config.yaml_source import YamlSourceError, parse_yaml
from bridge.routing.errors import RoutingError
from bridge.routing.record import Record
from bridge.routing.requests import request_for
from bridge.routing.router import Router, compile_routes
from bridge.signalr.errors import PreflightError


def _text(value: Any) -> Any:
    # Header values are text on the wire; YAML would make 1 or true something else.
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecordSpec(_Model):
    topic: str = Field(min_length=1)
    key: Annotated[str | None, BeforeValidator(_text)] = None
    headers: dict[str, Annotated[str, BeforeValidator(_text)]] = Field(default_factory=dict)
    value: Any = Field(
        default=None, description="text as is, anything else as JSON; leave out for a tombstone"
    )
    partition: int = Field(default=0, ge=0)
    offset: int = Field(default=0, ge=0)
    timestamp: int | None = Field(default=None, description="epoch milliseconds")

    def record(self) -> Record:
        if "value" not in self.model_fields_set:
            value = None
        elif isinstance(self.value, str):
            value = self.value.encode("utf-8")
        else:
            value = json.dumps(self.value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return Record(
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            timestamp_ms=self.timestamp,
            key=None if self.key is None else self.key.encode("utf-8"),
            value=value,
            headers=tuple((name, text.encode("utf-8")) for name, text in self.headers.items()),
        )


class RequestSpec(_Model):
    route: str | None = None
    method: str = Field(min_length=1)
    path: str = Field(min_length=1, description="path and query, without api-version")
    body: Any = None  # compared only when given

    @property
    def checks_body(self) -> bool:
        return "body" in self.model_fields_set


class CaseSpec(_Model):
    name: str = Field(min_length=1)
    record: RecordSpec
    requests: list[RequestSpec] | None = None
    dead_letter: FailureReason | None = None

    @model_validator(mode="after")
    def _one_expectation(self) -> Self:
        if (self.requests is None) == (self.dead_letter is None):
            raise ValueError("a test needs exactly one of requests (a list, [] for none) or dead_letter")
        return self


class TestFileSpec(_Model):
    config: str = Field(min_length=1, description="the config under test, relative to this file")
    tests: list[CaseSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    line: int | None
    passed: bool
    diff: str = ""  # unified diff of expected and actual, when it failed


@dataclass(frozen=True, slots=True)
class FileResult:
    file: str
    config: str
    cases: tuple[CaseResult, ...]

    @property
    def failed(self) -> int:
        return sum(not case.passed for case in self.cases)


def run_test_file(path: str | os.PathLike[str]) -> FileResult:
    """Run every case of one test file; raises :class:`ConfigError` when it or its config is invalid."""
    name = os.fspath(path)
    try:
        document = parse_yaml(read_text(name))
    except YamlSourceError as exc:
        raise ConfigError([ConfigIssue(name, exc.message, line=exc.line)]) from None
    locator = Locator(name, document.data, document.lines, {})
    try:
        spec = TestFileSpec.model_validate(document.data)
    except ValidationError as exc:
        issues = [pydantic_issue(error, locator, TestFileSpec) for error in exc.errors()]
        raise ConfigError(list(dict.fromkeys(issues))) from None
    config_path = Path(name).parent / spec.config
    loaded = load_config(config_path, strict_env=False)
    router = compile_routes(loaded)
    config = loaded.config
    cases = tuple(
        _run_case(case, router, config, document.lines.get(("tests", index)))
        for index, case in enumerate(spec.tests)
    )
    return FileResult(name, os.fspath(config_path), cases)


def _run_case(case: CaseSpec, router: Router, config: BridgeConfig, line: int | None) -> CaseResult:
    actual = _outcome(case.record.record(), router, config)
    detail = actual.pop("detail", None)
    expected: dict[str, Any]
    if case.dead_letter is not None:
        expected, shown = {"dead_letter": case.dead_letter}, actual
    else:
        expected = {"requests": [_expected_request(r) for r in case.requests or []]}
        shown = _comparable(actual, case.requests or [])
    if shown == expected:
        return CaseResult(case.name, line, True)
    diff = difflib.unified_diff(
        _yaml(expected).splitlines(), _yaml(shown).splitlines(), "expected", "actual", lineterm="", n=20
    )
    note = [f"the record fails: {detail}"] if detail else []
    return CaseResult(case.name, line, False, "\n".join([*diff, *note]))


def _outcome(record: Record, router: Router, config: BridgeConfig) -> dict[str, Any]:
    try:
        routed = router.route(record)
        requests = [(item.route, request_for(config.signalr, item.action)) for item in routed]
    except RoutingError as exc:
        return {"dead_letter": exc.reason.value, "detail": str(exc)}
    except PreflightError as exc:
        return {"dead_letter": "rejected", "detail": str(exc)}
    shown = []
    for route, request in requests:
        query = [(k, v) for k, v in request.query if k != "api-version"]
        path = request.path if not query else f"{request.path}?{_query(query)}"
        item: dict[str, Any] = {"route": route, "method": request.method, "path": path}
        if request.content is not None:
            item["body"] = json.loads(request.content)
        shown.append(item)
    return {"requests": shown}


def _query(pairs: Iterable[tuple[str, str]]) -> str:
    from urllib.parse import quote, urlencode  # noqa: PLC0415 - only for requests with a query

    return urlencode(list(pairs), quote_via=quote)


def _expected_request(spec: RequestSpec) -> dict[str, Any]:
    item: dict[str, Any] = {"route": spec.route} if spec.route is not None else {}
    item.update(method=spec.method.upper(), path=spec.path)
    if spec.checks_body:
        item["body"] = spec.body
    return item


def _comparable(actual: dict[str, Any], expected: list[RequestSpec]) -> dict[str, Any]:
    """The actual outcome with only the keys the test gave (route, body may be left out)."""
    if "requests" not in actual:
        return actual
    shown = []
    for index, item in enumerate(actual["requests"]):
        spec = expected[index] if index < len(expected) else None
        shown.append(
            {
                key: value
                for key, value in item.items()
                if spec is None
                or (key == "route" and spec.route is not None)
                or (key == "body" and spec.checks_body)
                or key in ("method", "path")
            }
        )
    return {"requests": shown}


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
