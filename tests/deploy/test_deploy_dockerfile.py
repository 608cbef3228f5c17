"""The image definition: hadolint-clean, non-root, exec-form entry point wired to the chart's paths."""

from __future__ import annotations

import json
import re

import pytest
from deploy_helpers import DEPLOY, run, tool_path

pytestmark = pytest.mark.unit

DOCKERFILE = DEPLOY / "Dockerfile"


def _instructions(name: str) -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", text, re.MULTILINE)]


def test_hadolint_reports_nothing() -> None:
    result = run([tool_path("hadolint"), "--failure-threshold", "info", DOCKERFILE])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_would_catch_a_root_unpinned_image() -> None:
    bad = "FROM python:latest\nRUN pip install requests\nENTRYPOINT signalr-bridge run\n"
    result = run([tool_path("hadolint"), "-"], stdin=bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3025" in result.stdout  # shell-form entry point


def test_multi_stage_and_the_runtime_installs_only_the_built_wheel() -> None:
    froms = _instructions("FROM")
    assert len(froms) == 2
    assert all("slim" in f for f in froms)
    (install,) = [r for r in _instructions("RUN") if "pip install" in r]
    assert "--no-index" in install
    assert "signalr_bridge-*.whl" in install


def test_runs_as_a_numeric_non_root_user() -> None:
    (user,) = _instructions("USER")
    uid = user.split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def test_entry_point_is_exec_form_behind_an_init_and_runs_the_chart_config_path() -> None:
    (entrypoint,) = _instructions("ENTRYPOINT")
    (cmd,) = _instructions("CMD")
    argv = json.loads(entrypoint) + json.loads(cmd)  # exec form is a JSON array
    assert argv[0].endswith("tini")
    assert argv[argv.index("--") + 1 :] == [
        "signalr-bridge",
        "run",
        "--config",
        "/etc/signalr-bridge/routes.yaml",
    ]


def test_exposes_the_metrics_port_the_chart_probes() -> None:
    assert _instructions("EXPOSE") == ["9108"]
