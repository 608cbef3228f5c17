"""``signalr-bridge test``: route tests in YAML, with clear diffs when a case fails."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from rt_helpers import config_text

from bridge.cli import main

pytestmark = pytest.mark.unit

ROUTES = """\
- name: rooms
  topics: [chat]
  filter: value.type == 'message'
  actions:
    - send: {target: newMessage, groupName: "room-{value.room}", arguments: ["{value.text}", "{headers.n}"]}
- name: raw
  topics: [raw]
  value_format: text
  actions:
    - send: {target: raw, userId: "{key}", arguments: ["{value}"]}
"""


@pytest.fixture
def suite(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "bridge.yaml").write_text(config_text(ROUTES))

    def write(cases: str, name: str = "bridge.test.yaml") -> Path:
        path = tmp_path / name
        path.write_text("config: bridge.yaml\ntests:\n" + textwrap.indent(textwrap.dedent(cases), "  "))
        return path

    return write


def test_passing_cases_compare_only_the_keys_given(suite, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = suite("""\
        - name: a message reaches its room
          record: {topic: chat, headers: {n: 7}, value: {type: message, room: 1, text: hi}}
          requests:
            - route: rooms
              method: post
              path: /api/hubs/chat/groups/room-1/:send
              body: {target: newMessage, arguments: [hi, "7"]}
        - name: route and body may be left out
          record: {topic: chat, value: {type: message, room: a b, text: hi}}
          requests:
            - {method: POST, path: /api/hubs/chat/groups/room-a%20b/:send}
        - name: a text value stays text and the key is the user
          record: {topic: raw, key: 42, value: '{"not": "parsed"}'}
          requests:
            - method: POST
              path: /api/hubs/chat/users/42/:send
              body: {target: raw, arguments: ['{"not": "parsed"}']}
        - name: a tombstone has no type, so the filter skips it
          record: {topic: chat}
          requests: []
        - name: a skipped record sends nothing
          record: {topic: chat, value: {type: typing}}
          requests: []
        """)
    assert main(["test", str(path.parent)]) == 0
    assert capsys.readouterr().out == (
        f"{path} (testing {path.parent / 'bridge.yaml'})\n"
        "  ok    a message reaches its room\n"
        "  ok    route and body may be left out\n"
        "  ok    a text value stays text and the key is the user\n"
        "  ok    a tombstone has no type, so the filter skips it\n"
        "  ok    a skipped record sends nothing\n"
        "5 tests: 5 passed, 0 failed\n"
    )


def test_a_failing_case_shows_a_diff_and_exits_1(suite, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = suite("""\
        - name: wrong room
          record: {topic: chat, value: {type: message, room: 2, text: hi}}
          requests:
            - {method: POST, path: /api/hubs/chat/groups/room-1/:send}
        - name: expected a failure, got a request
          record: {topic: chat, value: {type: message, room: 1, text: hi}}
          dead_letter: missing_field
        - name: expected a request, got a failure
          record: {topic: chat, value: "nope"}
          requests: []
        """)
    assert main(["test", str(path)]) == 1
    not_json = "Expecting value at line 1 column 1"
    assert capsys.readouterr().out == textwrap.dedent(f"""\
        {path} (testing {path.parent / "bridge.yaml"})
          FAIL  wrong room  [{path}:3]
                --- expected
                +++ actual
                @@ -1,3 +1,3 @@
                 requests:
                 - method: POST
                -  path: /api/hubs/chat/groups/room-1/:send
                +  path: /api/hubs/chat/groups/room-2/:send
          FAIL  expected a failure, got a request  [{path}:7]
                --- expected
                +++ actual
                @@ -1 +1,9 @@
                -dead_letter: missing_field
                +requests:
                +- route: rooms
                +  method: POST
                +  path: /api/hubs/chat/groups/room-1/:send
                +  body:
                +    target: newMessage
                +    arguments:
                +    - hi
                +    - null
          FAIL  expected a request, got a failure  [{path}:10]
                --- expected
                +++ actual
                @@ -1 +1 @@
                -requests: []
                +dead_letter: decode_error
                the record fails: route "rooms": field "value": value is not JSON: {not_json}
        3 tests: 0 passed, 3 failed
        """)


def test_an_invalid_test_file_is_reported_with_its_line(suite, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = suite("""\
        - name: typo
          record: {topic: chat, vaule: {}}
          requests: []
        - name: no expectation
          record: {topic: chat}
        """)
    assert main(["test", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err == (
        f'{path}:4: field "tests[0].record.vaule": unknown key (did you mean "value"?)\n'
        f'{path}:6: field "tests[1]": a test needs exactly one of requests (a list, [] for none) '
        "or dead_letter\n"
    )
    assert out == "0 tests: 0 passed, 0 failed\n"


def test_a_test_file_whose_config_is_broken(suite, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = suite("- name: x\n  record: {topic: chat}\n  requests: []\n")
    path.write_text(path.read_text().replace("config: bridge.yaml", "config: missing.yaml"))
    assert main(["test", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{path.parent / 'missing.yaml'}: cannot read the file: No such file or directory\n"
    )
