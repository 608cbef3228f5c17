"""Fixtures for the offline deploy checks (helpers live in deploy_helpers.py)."""

from __future__ import annotations

import pytest
from deploy_helpers import ALL_ON_VALUES, KUSTOMIZE, Objects, parse_documents, render_chart, run, tool_path


@pytest.fixture(scope="session")
def default_render() -> tuple[str, Objects]:
    return render_chart()


@pytest.fixture(scope="session")
def all_on_render() -> tuple[str, Objects]:
    return render_chart("-f", ALL_ON_VALUES)


@pytest.fixture(scope="session")
def kustomize_render() -> tuple[str, Objects]:
    result = run([tool_path("kustomize"), "build", KUSTOMIZE / "overlays" / "example"])
    assert result.returncode == 0, result.stderr
    return result.stdout, parse_documents(result.stdout)
