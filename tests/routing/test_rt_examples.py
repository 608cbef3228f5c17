"""Every example in config/ passes ``check`` (also offline, with nothing in the environment) and
ships with route tests (``config/<name>.test.yaml``) that pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.cli import main

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "config"
EXAMPLES = sorted(p for p in CONFIG_DIR.glob("*.yaml") if not p.name.endswith(".test.yaml"))
FAKE_EVENTHUBS = (
    "Endpoint=sb://my-namespace.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=fake="
)


@pytest.fixture
def example_env(signalr_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "EVENTHUBS_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EVENTHUBS_CONNECTION_STRING", FAKE_EVENTHUBS)


@pytest.fixture
def empty_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh shell: no connection string, no secrets, no overrides."""
    for name in list(os.environ):
        if name.upper().startswith(("SIGNALR_BRIDGE", "AZURESIGNALR", "KAFKA_", "EVENTHUBS_")):
            monkeypatch.delenv(name)


def test_there_are_examples_and_each_has_route_tests() -> None:
    names = {path.stem for path in EXAMPLES}
    assert {"chat", "order-notifications", "iot-telemetry", "membership", "eventhubs", "local"} <= names
    tested = {path.name.removesuffix(".test.yaml") for path in CONFIG_DIR.glob("*.test.yaml")}
    assert names <= tested, f"configs without route tests: {sorted(names - tested)}"


@pytest.mark.usefixtures("example_env")
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_passes_check(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--config", str(example)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.startswith(f"{example}: OK (")


@pytest.mark.usefixtures("empty_env")
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_passes_check_offline_in_a_fresh_shell(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # config/README.md's first command: it must work before any secret is set.
    assert main(["check", "--offline", "--config", str(example)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{example}: OK (")
    assert all(": warning: " in line for line in err.splitlines())


@pytest.mark.usefixtures("empty_env")
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_route_tests_pass(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tests = example.with_name(f"{example.stem}.test.yaml")
    code = main(["test", str(tests)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-1].endswith(" passed, 0 failed")
