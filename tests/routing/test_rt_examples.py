"""Every example in config/ passes ``check``, and sample records dry-run to recorded output.

Recorded outputs live next to the records (``examples/<example>.<case>.expected.txt``).
After a deliberate change, regenerate them with ``UPDATE_ROUTING_EXAMPLES=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bridge.cli import main

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "config"
EXAMPLES = sorted(CONFIG_DIR.glob("*.yaml"))
RECORDS = sorted((Path(__file__).parent / "examples").glob("*.record.json"))
FAKE_EVENTHUBS = (
    "Endpoint=sb://my-namespace.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=fake="
)


@pytest.fixture(autouse=True)
def example_env(signalr_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "EVENTHUBS_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EVENTHUBS_CONNECTION_STRING", FAKE_EVENTHUBS)


def test_there_are_examples_and_each_has_a_sample_record() -> None:
    names = {path.stem for path in EXAMPLES}
    assert {"chat", "order-notifications", "iot-telemetry", "membership", "eventhubs", "local"} <= names
    with_records = {path.name.split(".")[0] for path in RECORDS}
    assert names == with_records


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_passes_check(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--config", str(example)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.startswith(f"{example}: OK (")


@pytest.mark.parametrize("record_file", RECORDS, ids=[p.name.removesuffix(".record.json") for p in RECORDS])
def test_example_dry_run_matches_recording(record_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = CONFIG_DIR / f"{record_file.name.split('.')[0]}.yaml"
    record = json.loads(record_file.read_text(encoding="utf-8"))
    argv = ["route", "--config", str(example), "--topic", record["topic"]]
    if "key" in record:
        argv += ["--key", record["key"]]
    for name, value in record.get("headers", {}).items():
        argv += ["--header", f"{name}={value}"]
    for option in ("partition", "offset", "timestamp"):
        if option in record:
            argv += [f"--{option}", str(record[option])]
    argv += ["--value", json.dumps(record["value"], separators=(",", ":"))]
    code = main(argv)
    output = f"exit {code}\n" + capsys.readouterr().out
    expected_file = record_file.with_name(record_file.name.replace(".record.json", ".expected.txt"))
    if os.environ.get("UPDATE_ROUTING_EXAMPLES") == "1":
        expected_file.write_text(output, encoding="utf-8")
    assert output == expected_file.read_text(encoding="utf-8")
