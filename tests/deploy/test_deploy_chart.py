"""The Helm chart renders, lints, validates strictly and keeps the promises a user relies on."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from deploy_helpers import (
    ALL_ON_VALUES,
    CHART,
    DASHBOARD,
    KUBERNETES_VERSIONS,
    RULES,
    Objects,
    helm_template,
    kubeconform,
    only,
    parse_documents,
    render_chart,
    run,
    tool_path,
)

from bridge.config.loader import load_config_text
from bridge.routing import compile_routes

pytestmark = pytest.mark.unit

CONNECTION_STRING = (
    "Endpoint=https://demo.service.signalr.net;AccessKey=ZmFrZS1rZXktZm9yLXRlc3Rz;Version=1.0;"
)
VALUE_SETS = {"default": (), "all-on": ("-f", str(ALL_ON_VALUES))}


def _container(objects: Objects) -> dict[str, Any]:
    (container,) = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def _alert_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(rule["alert"], rule["expr"]) for group in groups for rule in group["rules"] if "alert" in rule]


def _bridge_config(objects: Objects) -> dict[str, Any]:
    configmap = next(o for o in objects if o["kind"] == "ConfigMap" and "routes.yaml" in o["data"])
    config: dict[str, Any] = yaml.safe_load(configmap["data"]["routes.yaml"])
    return config


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_strict_passes(values: tuple[str, ...]) -> None:
    result = run([tool_path("helm"), "lint", "--strict", CHART, *values])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_validates_strictly(values: tuple[str, ...], kubernetes_version: str) -> None:
    manifests, objects = render_chart(*values)
    result = kubeconform(manifests, kubernetes_version)
    assert result.returncode == 0, result.stdout + result.stderr
    # Nothing skipped: the custom resources were checked against their CRD schemas too.
    assert f"Valid: {len(objects)}, Invalid: 0, Errors: 0, Skipped: 0" in result.stdout, result.stdout


def test_all_on_renders_every_optional_object(all_on_render: tuple[str, Objects]) -> None:
    kinds = sorted(o["kind"] for o in all_on_render[1])
    assert kinds == sorted(
        [
            "ConfigMap",  # routing file
            "ConfigMap",  # Grafana dashboard
            "Deployment",
            "PodDisruptionBudget",
            "PrometheusRule",
            "ScaledObject",
            "Secret",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
            "TriggerAuthentication",
        ]
    )


@pytest.mark.parametrize("kubernetes_version", KUBERNETES_VERSIONS[:1])
def test_strict_validation_catches_a_misspelt_field(kubernetes_version: str) -> None:
    _manifests, objects = render_chart("-f", str(ALL_ON_VALUES))
    for kind, mutate in (
        ("Deployment", lambda o: o["spec"]["template"]["spec"].update(terminationGracePeriod=40)),
        ("ScaledObject", lambda o: o["spec"].update(maxReplicas=3)),
        ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(intervall="30s")),
    ):
        broken = [json.loads(json.dumps(o)) for o in objects]
        mutate(next(o for o in broken if o["kind"] == kind))
        result = kubeconform(yaml.safe_dump_all(broken), kubernetes_version)
        assert result.returncode != 0, f"a bogus {kind} field passed validation"
        assert "Invalid: 1" in result.stdout


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_pod_runs_hardened(values: tuple[str, ...]) -> None:
    _, objects = render_chart(*values)
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    container = _container(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # The writable paths a read-only root filesystem still needs.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/var/lib/signalr-bridge", "/etc/signalr-bridge"} <= mounts
    # faust's data directory (honoured by the bridge: tests/pipeline/test_data_dir.py) is one of them.
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FAUST_DATADIR"] in mounts - {"/etc/signalr-bridge"}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_probes_hit_the_bridge_health_endpoints_on_its_metrics_port(values: tuple[str, ...]) -> None:
    _, objects = render_chart(*values)
    container = _container(objects)
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names
    # The bridge listens where the probes knock: the chart writes the port into its config.
    config = _bridge_config(objects)
    assert config["observability"] == {"host": "0.0.0.0", "port": port_names["metrics"]}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_resources_are_requested_and_memory_is_limited(values: tuple[str, ...]) -> None:
    _, objects = render_chart(*values)
    resources = _container(objects)["resources"]
    assert resources["requests"]["cpu"]
    assert resources["requests"]["memory"]
    assert resources["limits"]["memory"]


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_grace_period_outlasts_the_drain_deadline(values: tuple[str, ...]) -> None:
    _, objects = render_chart(*values)
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    container = _container(objects)
    drain = _bridge_config(objects)["shutdown"]["drain_timeout_seconds"]
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    assert pod["terminationGracePeriodSeconds"] > drain + pre_stop


def test_drain_default_matches_the_daemon_default() -> None:
    from bridge.config.schema import ShutdownConfig

    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert (
        chart_values["config"]["shutdown"]["drain_timeout_seconds"] == ShutdownConfig().drain_timeout_seconds
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--set", "terminationGracePeriodSeconds=25"), "must exceed config.shutdown.drain_timeout_seconds"),
        (
            ("--set", "config.shutdown.drain_timeout_seconds=60"),
            "must exceed config.shutdown.drain_timeout_seconds",
        ),
        (("--set", "preStopSleepSeconds=20"), "plus preStopSleepSeconds"),
        (("--set", "autoscaling.keda.enabled=true", "--set", "autoscaling.hpa.enabled=true"), "exclusive"),
        (("--set", "secret.create=true"), "secret.connectionString is required"),
        (("--set", "replicas=3"), "additional properties 'replicas' not allowed"),
        (("--set", "image.digest=latest"), "/image/digest"),
        # `config` is checked with the bridge's own config schema (embedded by deploy/helm/generate.py).
        (("--set", "config.kafka.group_idd=bridge"), "at '/config/kafka': additional properties 'group_idd'"),
        (("--set", "config.signalr.api_version=2021-01-01"), "at '/config/signalr/api_version'"),
        (("--set", "config.pipeline.max_in_flight=0"), "at '/config/pipeline/max_in_flight'"),
        (("--set", "config.routes[0].actions[0].send.user_id=x"), "at '/config/routes/0'"),
    ],
)
def test_the_chart_refuses_settings_that_would_break_the_bridge(args: tuple[str, ...], message: str) -> None:
    result = helm_template(*args)
    assert result.returncode != 0
    assert message in result.stderr


def test_routing_file_change_rolls_the_pods_and_nothing_else_does() -> None:
    def checksum(*args: str) -> str:
        _, objects = render_chart(*args)
        annotations = only(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        value: str = annotations["checksum/config"]
        return value

    base = checksum()
    assert checksum() == base
    assert checksum("--set", "replicaCount=3") == base
    assert checksum("--set", "config.kafka.group_id=renamed") != base
    assert checksum("--set", "metrics.port=9200") != base  # the port is in the config file too


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_the_rendered_routing_file_is_a_valid_bridge_config(values: tuple[str, ...]) -> None:
    _, objects = render_chart(*values)
    text = next(o for o in objects if o["kind"] == "ConfigMap" and "routes.yaml" in o["data"])["data"][
        "routes.yaml"
    ]
    # The environment the Deployment gives the bridge: literal values as they are, secrets as stand-ins.
    environ = {}
    for var in _container(objects)["env"]:
        source = var.get("valueFrom", {})
        if "value" in var:
            environ[var["name"]] = var["value"]
        elif "secretKeyRef" in source:
            environ[var["name"]] = CONNECTION_STRING if "SignalR" in var["name"] else "secret"
        else:
            environ[var["name"]] = "from-downward-api"
    loaded = load_config_text(text, file="routes.yaml", environ=environ)
    compile_routes(loaded)  # templates, names and connection strings too, as `check` does
    assert loaded.config.signalr.has_connection
    assert loaded.config.observability.port == 9108


def test_secrets_come_from_the_secret_and_never_sit_in_the_configmap(
    all_on_render: tuple[str, Objects],
) -> None:
    _manifests, objects = all_on_render
    secret = only(objects, "Secret")
    container = _container(objects)
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert set(refs) == {"AzureSignalRConnectionString", "KAFKA_SASL_PASSWORD"}
    for name, ref in refs.items():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"], name
    configmaps = "".join(json.dumps(o) for o in objects if o["kind"] == "ConfigMap")
    assert "ZmFrZS1rZXktZm9yLXRlc3Rz" not in configmaps
    assert "not-a-real-password" not in configmaps
    # A chart-owned Secret rolls the pods when it changes.
    assert "checksum/secret" in only(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]


def test_an_existing_secret_is_referenced_and_not_rendered() -> None:
    _, objects = render_chart("--set", "secret.existingSecret=bridge-creds")
    assert not [o for o in objects if o["kind"] == "Secret"]
    refs = [
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in _container(objects)["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert refs == ["bridge-creds", "bridge-creds"]


def test_service_and_servicemonitor_reach_the_pods_metrics_port(all_on_render: tuple[str, Objects]) -> None:
    _, objects = all_on_render
    deployment, service, monitor = (only(objects, k) for k in ("Deployment", "Service", "ServiceMonitor"))
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert "app.kubernetes.io/version" not in deployment["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # The job label Prometheus gives the targets is what SignalRBridgeDown selects.
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    (down,) = [expr for name, expr in _alert_exprs() if name == "SignalRBridgeDown"]
    job_regex = re.search(r'job=~"([^"]+)"', down)
    assert job_regex
    assert re.fullmatch(job_regex.group(1), job)


def test_pdb_never_blocks_a_single_replica_drain(default_render: tuple[str, Objects]) -> None:
    pdb = only(default_render[1], "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]


def test_keda_scales_the_deployment_on_the_bridge_consumer_group(all_on_render: tuple[str, Objects]) -> None:
    _, objects = all_on_render
    scaled, deployment, auth = (
        only(objects, k) for k in ("ScaledObject", "Deployment", "TriggerAuthentication")
    )
    config = _bridge_config(objects)
    (trigger,) = scaled["spec"]["triggers"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == config["kafka"]["group_id"]
    assert trigger["metadata"]["bootstrapServers"].split(",") == config["kafka"]["bootstrap_servers"]
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    # KEDA owns the replica count: a fixed one would fight it.
    assert "replicas" not in deployment["spec"]


def test_hpa_is_the_cpu_alternative() -> None:
    _, objects = render_chart("--set", "autoscaling.hpa.enabled=true")
    hpa = only(objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == only(objects, "Deployment")["metadata"]["name"]
    assert "replicas" not in only(objects, "Deployment")["spec"]


def test_prometheusrule_and_dashboard_carry_the_monitoring_files_unchanged(
    all_on_render: tuple[str, Objects],
) -> None:
    _, objects = all_on_render
    rule = only(objects, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    # Prometheus templates in annotations survive Helm untouched.
    assert "{{ $labels.namespace }}" in json.dumps(rule["spec"])
    dashboard = next(
        o for o in objects if o["kind"] == "ConfigMap" and "signalr-bridge.json" in o.get("data", {})
    )
    assert json.loads(dashboard["data"]["signalr-bridge.json"]) == json.loads(DASHBOARD.read_text())
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_values_schema_accepts_both_value_files() -> None:
    # helm validates values against values.schema.json on every render; check it is a closed schema.
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"])
    assert parse_documents(helm_template("-f", str(ALL_ON_VALUES)).stdout)
