"""Helpers for the offline deploy checks: tools from .ci/setup.d/30-deploy-tools.sh, rendering.

A missing tool fails the test with the command that installs it; nothing is skipped.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "signalr-bridge"
ALL_ON_VALUES = CHART / "ci" / "all-on-values.yaml"
MONITORING = DEPLOY / "monitoring"
RULES = MONITORING / "signalr-bridge.rules.yaml"
RULES_TEST = MONITORING / "signalr-bridge.rules.test.yaml"
DASHBOARD = MONITORING / "signalr-bridge.dashboard.json"
KUSTOMIZE = DEPLOY / "kustomize"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "signalr-bridge"
KUBERNETES_VERSIONS = ("v1.29.0", "v1.37.0")
SETUP = ".ci/setup.d/30-deploy-tools.sh"

Objects = list[dict[str, Any]]


def tool_path(name: str) -> Path:
    path = CACHE / "bin" / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} is not installed at {path}: run `bash {SETUP}`", pytrace=False)
    return path


def schema_dir(kind: str) -> Path:
    path = CACHE / kind
    if not path.is_dir():
        pytest.fail(f"{path} is missing: run `bash {SETUP}`", pytrace=False)
    return path


def run(
    argv: Sequence[str | Path], *, stdin: str | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=240, check=False
    )


def helm_template(*args: str | Path) -> subprocess.CompletedProcess[str]:
    # A helm built with `go install` assumes Kubernetes 1.20, below the chart's kubeVersion.
    version = ("--kube-version", KUBERNETES_VERSIONS[0])
    return run([tool_path("helm"), "template", "rel", CHART, "--namespace", "prod", *version, *args])


def parse_documents(text: str) -> Objects:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@functools.cache  # rendering is deterministic; many tests read the same objects without changing them
def render_chart(*args: str | Path) -> tuple[str, Objects]:
    result = helm_template(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout, parse_documents(result.stdout)


def only(objects: Objects, kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kubeconform(manifests: str, kubernetes_version: str) -> subprocess.CompletedProcess[str]:
    """Strict validation: core kinds from kubernetes-validate's schemas, custom resources from the CRDs."""
    core = schema_dir("kubernetes-json-schema") / f"{kubernetes_version}-local-strict"
    crds = schema_dir("crd-schemas") / "current"
    return run(
        [
            tool_path("kubeconform"),
            "-strict",
            "-summary",
            "-output",
            "text",
            "-schema-location",
            f"{core}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            "-schema-location",
            f"{crds}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
            "-",
        ],
        stdin=manifests,
    )
