"""Alert rules and dashboard: promtool checks, unit tests, and real metric names only."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import DASHBOARD, RULES, RULES_TEST, run, tool_path
from prometheus_client import generate_latest

from bridge.emulator import EmulatorServer
from bridge.observability import BridgeMetrics, Outcome
from bridge.observability.metrics import series_names

pytestmark = pytest.mark.unit

E2E_DIR = str(Path(__file__).resolve().parents[1] / "e2e")
# Series Prometheus makes itself for every target; not the bridge's to export.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
# Grafana substitutes these before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$namespace": ".*", "$job": ".*"}

PROMQL_WORDS = frozenset(
    [
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "rate",
        "irate",
        "increase",
        "delta",
        "idelta",
        "deriv",
        "predict_linear",
        "histogram_quantile",
        "abs",
        "absent",
        "absent_over_time",
        "clamp_min",
        "clamp_max",
        "ceil",
        "floor",
        "round",
        "time",
        "vector",
        "scalar",
        "label_replace",
        "label_join",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "count_over_time",
        "last_over_time",
        "changes",
        "resets",
        "sort",
        "sort_desc",
        "humanize",
    ]
)
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (strings, matchers, groupings and ranges stripped)."""
    for pattern in (_STRING, _MATCHERS, _GROUPING, _RANGE):
        expr = pattern.sub(" ", expr)
    return {name for name in _IDENT.findall(expr) if name not in PROMQL_WORDS}


def rule_expressions() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            yield from walk(panel.get("panels", []))
            for target in panel.get("targets", []):
                yield f"{panel['title']} / {target['refId']}", target["expr"]

    yield from walk(json.loads(DASHBOARD.read_text())["panels"])


def dashboard_variable_metrics() -> set[str]:
    names = set()
    for variable in json.loads(DASHBOARD.read_text())["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            match = re.match(r"label_values\(\s*([a-zA-Z_:][\w:]*)", query["query"])
            assert match, f"unexpected variable query {query}"
            names.add(match.group(1))
    return names


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unsubstituted Grafana variable in {expr}"
    return expr


def test_promtool_check_rules_passes() -> None:
    result = run([tool_path("promtool"), "check", "rules", RULES])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(list(rule_expressions()))} rules found" in result.stdout


def test_promtool_unit_tests_pass_and_cover_every_alert() -> None:
    result = run([tool_path("promtool"), "test", "rules", RULES_TEST.name], cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {name for name, _ in rule_expressions()}
    assert alerts == tested, f"alerts without a firing unit test: {sorted(alerts - tested)}"


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    # Guard against a harness that passes whatever the rules say.
    tests = yaml.safe_load(RULES_TEST.read_text())
    tests["rule_files"] = [str(RULES)]
    tests["tests"][0]["alert_rule_test"][-1]["exp_alerts"][0]["exp_labels"]["severity"] = "info"
    broken = tmp_path / "broken.test.yaml"
    broken.write_text(yaml.safe_dump(tests))
    result = run([tool_path("promtool"), "test", "rules", broken], cwd=tmp_path)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    # promtool parses each expression as a recording rule; Grafana variables replaced first.
    queries = list(dashboard_expressions())
    assert len(queries) >= 15
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(e)}
                    for i, (_, e) in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = run([tool_path("promtool"), "check", "rules", path])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_query_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "a:b", "expr": "sum(rate(x[5m])"}]}]})
    )
    assert run([tool_path("promtool"), "check", "rules", path]).returncode != 0


def test_metric_name_extraction_sees_through_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, job) (rate(a_bucket{job=~"x|sum"}[5m]))) '
        "/ on (job) group_left b_total and ignoring (instance) up == 0"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "up"}


@pytest.fixture
async def live_series(bootstrap_servers: str, tmp_path: Path, unique: Any) -> set[str]:
    """Every series name a real running bridge exports after some traffic, failures included."""
    sys.path.insert(0, E2E_DIR)
    from e2e_support import BridgeProcess, counting_config, create_topic, produce, record

    topic, dlq = unique.topic(), unique.topic("dlq")
    await create_topic(bootstrap_servers, topic, 1)
    await produce(bootstrap_servers, topic, [record("k", 1), (b"k", b"not json")])
    async with EmulatorServer() as emulator:
        env = {
            "AzureSignalRConnectionString": emulator.connection_string,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        }
        bridge = BridgeProcess(counting_config(unique.group(), topic, dlq), tmp_path, env).start()
        try:
            await bridge.wait_ready()
            for _ in range(100):
                text = await bridge.metrics()
                if 'dead_lettered_total{reason="decode_error"} 1.0' in text:
                    break
                await asyncio.sleep(0.3)
            await asyncio.sleep(5.5)  # one lag report
            text = await bridge.metrics()
        finally:
            bridge.stop()
    return series_names(text)


@pytest.mark.e2e
async def test_every_metric_used_by_alerts_and_dashboard_is_exported(live_series: set[str]) -> None:
    used: dict[str, set[str]] = {}
    for where, expr in [*rule_expressions(), *dashboard_expressions()]:
        for name in metric_names(grafana_to_promql(expr)):
            used.setdefault(name, set()).add(where)
    for name in dashboard_variable_metrics():
        used.setdefault(name, set()).add("dashboard variables")
    assert any(name.startswith("signalr_bridge_") for name in used)
    missing = {
        name: sorted(where) for name, where in used.items() if name not in live_series | PROMETHEUS_SERIES
    }
    assert not missing, f"used but not exported by a running bridge: {missing}"


def test_exposition_passes_promtool_lint() -> None:
    metrics = BridgeMetrics()
    metrics.record_consumed("orders")
    metrics.delivery_finished(Outcome.FAILED, "rejected", 0.2)
    metrics.delivery_retried("throttled")
    metrics.dead_lettered("rejected")
    metrics.set_consumer_lag("orders", 0, 5)
    metrics.set_endpoint_up("primary", True)
    body = generate_latest(metrics.registry)
    result = run([tool_path("promtool"), "check", "metrics"], stdin=body.decode())
    assert result.returncode == 0, result.stdout + result.stderr
