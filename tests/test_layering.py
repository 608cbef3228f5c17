"""The package's layers hold, and light commands stay light (what each command imports)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge import cli

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
HEAVY = {"httpx", "aiohttp", "jwt", "faust", "aiokafka"}
FAKE_CONNECTION_STRING = "Endpoint=https://example.service.signalr.net;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;Version=1.0;"

# Runs the command line in a fresh interpreter, then reports what it imported.
PROBE = """
import json, sys
from bridge.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*argv: str) -> tuple[int, set[str]]:
    env = {**os.environ, "AzureSignalRConnectionString": FAKE_CONNECTION_STRING}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=REPO, env=env, check=False
    )
    report = json.loads(result.stdout.splitlines()[-1])
    return report["code"], set(report["modules"])


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_layer_contracts_hold() -> None:
    """config and signalr import nothing else from the package, routing only those two, and so on
    (the contracts are in pyproject.toml, checked by import-linter, imports inside functions too)."""
    result = subprocess.run(
        [Path(sys.executable).parent / "lint-imports", "--no-cache"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_importing_the_config_package_loads_no_http_client_or_faust() -> None:
    # The issue's own words.
    code = (
        "import bridge.config, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'httpx','aiohttp','jwt','faust'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_version_imports_no_command() -> None:
    code, modules = _modules_after("--version")
    assert code == 0
    assert not {m for m in modules if m.startswith("bridge.") and m != "bridge.cli"}
    assert not _top_level(modules) & (HEAVY | {"pydantic"})


def test_check_loads_no_http_client_faust_or_emulator() -> None:
    code, modules = _modules_after("check", "--config", str(REPO / "config" / "chat.yaml"))
    assert code == 0
    assert not _top_level(modules) & HEAVY
    assert not {
        m for m in modules if m.startswith(("bridge.emulator", "bridge.pipeline", "bridge.signalr.client"))
    }
    assert {m for m in modules if m.startswith("bridge.cli.")} == {"bridge.cli.check"}


def test_help_lists_every_command_without_importing_one() -> None:
    code, modules = _modules_after("--help")
    assert code == 0
    assert not {m for m in modules if m.startswith("bridge.cli.")}


@pytest.mark.parametrize("name", cli.command_names())
def test_each_command_registers_under_its_module_name_with_its_help(name: str) -> None:
    module = cli.load_command(name)
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    module.register(subparsers)
    assert list(subparsers.choices) == [name]
    assert cli.command_help(name) == module.HELP
    # What `signalr-bridge --help` lists (read from the source) is what the command registers.
    assert [action.help for action in subparsers._choices_actions] == [module.HELP]
