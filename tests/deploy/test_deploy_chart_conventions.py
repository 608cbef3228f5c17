"""Chart conventions users of other charts expect: subchart use, labels, monitor passthrough, docs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from deploy_helpers import ALL_ON_VALUES, CHART, REPO, Objects, helm_template, only, render_chart

pytestmark = pytest.mark.unit


def test_generated_values_schema_and_values_table_are_current() -> None:
    """values.schema.json carries config/signalr-bridge.schema.json; README.md the values table."""
    result = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "helm" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_usable_as_a_subchart() -> None:
    # A parent chart passes `global` to every subchart and usually gates it with `enabled`.
    result = helm_template("--set", "global.imageRegistry=registry.example.com", "--set", "enabled=true")
    assert result.returncode == 0, result.stderr


def test_refuses_a_kubernetes_older_than_it_is_validated_against() -> None:
    result = helm_template("--kube-version", "v1.28.9")
    assert result.returncode != 0
    assert "chart requires kubeVersion" in result.stderr
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["maintainers"]


def _labelled(objects: Objects) -> list[dict[str, str]]:
    return [o["metadata"]["labels"] for o in objects]


def test_every_object_names_the_application_it_is_part_of(all_on_render: tuple[str, Objects]) -> None:
    _, objects = render_chart()
    assert {labels["app.kubernetes.io/part-of"] for labels in _labelled(objects)} == {"signalr-bridge"}
    _, objects = all_on_render
    assert {labels["app.kubernetes.io/part-of"] for labels in _labelled(objects)} == {"realtime-platform"}


def test_servicemonitor_passes_relabelings_through(all_on_render: tuple[str, Objects]) -> None:
    # all-on-values.yaml sets them, so the strict CRD validation in test_deploy_chart covers them too.
    values = yaml.safe_load(ALL_ON_VALUES.read_text())["metrics"]["serviceMonitor"]
    _, objects = all_on_render
    (endpoint,) = only(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    assert endpoint["relabelings"] == values["relabelings"]
    assert endpoint["metricRelabelings"] == values["metricRelabelings"]
    _, objects = render_chart("--set", "metrics.serviceMonitor.enabled=true")
    (endpoint,) = only(objects, "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["honorLabels"] is False
    assert "relabelings" not in endpoint
    assert "metricRelabelings" not in endpoint


def test_revision_history_limit_is_a_value(
    default_render: tuple[str, Objects], all_on_render: tuple[str, Objects]
) -> None:
    assert only(default_render[1], "Deployment")["spec"]["revisionHistoryLimit"] == 5
    assert only(all_on_render[1], "Deployment")["spec"]["revisionHistoryLimit"] == 3
