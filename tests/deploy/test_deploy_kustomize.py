"""The plain kustomize manifests: the example overlay renders, validates and matches the chart's policy."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from deploy_helpers import (
    KUBERNETES_VERSIONS,
    KUSTOMIZE,
    Objects,
    kubeconform,
    only,
    parse_documents,
    run,
    tool_path,
)

from bridge.config.loader import load_config_text
from bridge.routing import compile_routes

pytestmark = pytest.mark.unit


def _pod(objects: Objects) -> dict[str, Any]:
    spec: dict[str, Any] = only(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
def test_example_overlay_validates_strictly(
    kustomize_render: tuple[str, Objects], kubernetes_version: str
) -> None:
    manifests, objects = kustomize_render
    result = kubeconform(manifests, kubernetes_version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Valid: {len(objects)}, Invalid: 0, Errors: 0, Skipped: 0" in result.stdout


def test_overlay_applies_namespace_replicas_and_image(kustomize_render: tuple[str, Objects]) -> None:
    _, objects = kustomize_render
    assert {o["metadata"].get("namespace") for o in objects} == {"realtime"}
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    (container,) = _pod(objects)["containers"]
    assert container["image"] == "ghcr.io/signalr-bridge/signalr-bridge:0.1.0"
    assert container["resources"]["limits"]["memory"] == "768Mi"


def test_generated_names_are_wired_so_routing_changes_roll_the_pods(
    kustomize_render: tuple[str, Objects],
) -> None:
    _, objects = kustomize_render
    configmap, secret = only(objects, "ConfigMap"), only(objects, "Secret")
    # Hash-suffixed names: a new routes.yaml is a new ConfigMap, hence a new pod template.
    assert configmap["metadata"]["name"].startswith("signalr-bridge-routes-")
    pod = _pod(objects)
    assert {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v} == {
        configmap["metadata"]["name"]
    }
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in pod["containers"][0]["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs == {secret["metadata"]["name"]}


def test_pod_is_hardened_and_probed_like_the_chart(kustomize_render: tuple[str, Objects]) -> None:
    _, objects = kustomize_render
    pod = _pod(objects)
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # faust's data directory (honoured by the bridge) is a writable mounted volume.
    env = {e["name"]: e.get("value") for e in container["env"]}
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert env["FAUST_DATADIR"] in writable
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"]


def test_grace_period_outlasts_the_overlay_drain_deadline(kustomize_render: tuple[str, Objects]) -> None:
    _, objects = kustomize_render
    config = yaml.safe_load(only(objects, "ConfigMap")["data"]["routes.yaml"])
    assert _pod(objects)["terminationGracePeriodSeconds"] > config["shutdown"]["drain_timeout_seconds"]


def test_overlay_routing_file_is_a_valid_bridge_config(kustomize_render: tuple[str, Objects]) -> None:
    _, objects = kustomize_render
    secret_keys = set(only(objects, "Secret")["data"])
    environ = dict.fromkeys(secret_keys, "x")
    environ["AzureSignalRConnectionString"] = (
        "Endpoint=https://a.service.signalr.net;AccessKey=QUJD;Version=1.0;"
    )
    loaded = load_config_text(only(objects, "ConfigMap")["data"]["routes.yaml"], environ=environ)
    compile_routes(loaded)  # templates, names and connection strings too, as `check` does
    (container,) = _pod(objects)["containers"]
    assert loaded.config.observability.port == container["ports"][0]["containerPort"]
    assert [r.name for r in loaded.config.routes] == ["user-notifications", "room-membership"]


def test_base_alone_builds_and_validates_for_users_bringing_their_own_secret() -> None:
    result = run([tool_path("kustomize"), "build", KUSTOMIZE / "base"])
    assert result.returncode == 0, result.stderr
    objects = parse_documents(result.stdout)
    assert not [o for o in objects if o["kind"] == "Secret"]
    validation = kubeconform(result.stdout, KUBERNETES_VERSIONS[0])
    assert validation.returncode == 0, validation.stdout
    assert f"Valid: {len(objects)}, Invalid: 0" in validation.stdout
