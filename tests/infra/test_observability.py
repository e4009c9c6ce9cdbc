"""Observability in terraform against what the code emits (issue 13), both ways.

metrics-contract.json is generated from the metric declarations in the code (the Rust test
`contract::metrics_contract_json_is_what_the_code_declares` keeps it current). Here:

- every metric the dashboard and the alarms use in the binaries' namespace is in the contract, with the dimensions
  the binaries give it (the global Environment and Service, plus one of its declared sets): a widget or an alarm on
  a metric nobody emits shows nothing and never fires, silently;
- every metric in the contract is on the dashboard (a new metric gets a widget);
- the namespace and the Environment dimension the task definitions set are the ones the dashboard and alarms read;
- the ADOT sidecar: a valid container definition, the variables terraform adds only with it are read by every
  binary, its endpoint is the port it listens on, and the task role grants it X-Ray only when it runs.
"""

import json
import re

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

from _infra import (
    PLACEHOLDER,
    ROOT,
    TASKDEFS,
    TERRAFORM,
    blocks,
    env_contract,
    expr,
    parse_tf,
    raw_container_env,
    render,
    root_locals,
    unquote,
)

ALARMS = TERRAFORM / "modules" / "alarms"
DASHBOARD = ALARMS / "dashboard.json.tftpl"
SIDECAR = TASKDEFS / "sidecars" / "adot-collector.json"
GLOBAL = {"Environment", "Service"}
NAMESPACE = "TEST_NAMESPACE"
BINARIES = sorted(p.stem for p in TASKDEFS.glob("*.json"))


@pytest.fixture(scope="module")
def contract():
    path = ROOT / "metrics-contract.json"
    assert path.is_file(), "metrics-contract.json is missing; UPDATE_ENV_CONTRACT=1 cargo test -p switchyard-tests --test e2e contract::"
    doc = json.loads(path.read_text())
    assert doc["service_dimension"] == "Service"
    return {m["name"]: m for m in doc["metrics"]}


def _allowed_dimension_sets(metric) -> list[set[str]]:
    return [GLOBAL | set(s) for s in metric["dimensions"]]


def _dashboard() -> dict:
    """The template rendered like templatefile(): every ${name} the dashboard resource passes."""
    text = DASHBOARD.read_text()
    assert "%{" not in text, "no template directives in the dashboard"
    call = (ALARMS / "observability.tf").read_text()
    passed = set(re.findall(r"^\s+([a-z_]+)\s+=", call[call.index("templatefile("):], re.M))
    values = {"namespace": NAMESPACE, "environment": "prod", "region": "eu-west-1"}
    used = set(PLACEHOLDER.findall(text)) | set(re.findall(r"\$\{jsonencode\(([a-z_]+)\)\}", text))
    assert used <= passed, f"the dashboard uses {sorted(used - passed)}, which templatefile() does not pass"
    text = re.sub(r"\$\{jsonencode\(alarm_arns\)\}", json.dumps(["arn:aws:cloudwatch:eu-west-1:1:alarm:x"]), text)
    text = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    return json.loads(text)


SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}\s*(.*?)',\s*'([A-Za-z0-9.]+)',\s*(\d+)\)")


def _searches(dashboard):
    """(schema dimensions, metric names, statistic) of every SEARCH in the binaries' namespace, and the others."""
    ours, theirs = [], []
    for widget in dashboard["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            for item in row:
                if isinstance(item, dict) and "expression" in item and "SEARCH(" in item["expression"]:
                    found = SEARCH.findall(item["expression"])
                    assert found, f"unreadable SEARCH: {item['expression']}"
                    for schema, terms, stat, _period in found:
                        namespace, *dims = [p.strip() for p in schema.split(",")]
                        single = re.findall(r'MetricName="([^"]+)"', terms)
                        several = re.findall(r"MetricName=\(([^)]*)\)", terms)
                        names = single + [n for group in several for n in re.findall(r'"([^"]+)"', group)]
                        assert names, f"a SEARCH without a metric name: {terms}"
                        entry = (namespace, set(dims), names, stat, terms)
                        (ours if namespace == NAMESPACE else theirs).append(entry)
    return ours, theirs


def test_the_dashboard_shows_only_emitted_metrics_with_their_dimensions(contract):
    ours, theirs = _searches(_dashboard())
    assert ours, "the dashboard has no widget on the binaries' metrics"
    for _, dims, names, stat, terms in ours:
        assert 'Environment="prod"' in terms, f"{names}: filter on this environment"
        for name in names:
            assert name in contract, f"the dashboard shows {name}, which no binary emits (metrics-contract.json)"
            assert dims in _allowed_dimension_sets(contract[name]), (
                f"{name} on the dashboard with dimensions {sorted(dims)}; the binaries emit "
                f"{[sorted(s) for s in _allowed_dimension_sets(contract[name])]}"
            )
            if stat.startswith("p"):
                assert contract[name]["kind"] == "histogram", f"{name}: percentiles need a histogram"
    for namespace, dims, names, _, _ in theirs:
        assert namespace == "AWS/SQS" and dims == {"QueueName"}, f"unexpected SEARCH {namespace} {dims} {names}"


def test_every_emitted_metric_is_on_the_dashboard(contract):
    ours, _ = _searches(_dashboard())
    shown = {n for _, _, names, _, _ in ours for n in names}
    missing = sorted(set(contract) - shown)
    assert not missing, f"metrics the binaries emit but the dashboard does not show: {missing}"


def test_the_dashboard_has_the_widgets_the_issue_asks_for():
    dashboard = _dashboard()
    titles = " | ".join(w["properties"].get("title", "") for w in dashboard["widgets"]).lower()
    for what in ["requests", "latency", "5xx", "queue depth", "oldest message age", "dlq", "outbox lag", "handler latency"]:
        assert what in titles, f"no dashboard widget for {what}: {titles}"
    alarms = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    assert alarms and alarms[0]["properties"]["alarms"], "an alarm status widget"


def _alarm_metrics():
    """(alarm name, namespace expr, metric name, dimension keys) of every metric in every alarm under terraform/."""
    for path, (rtype, name), body in blocks("resource", TERRAFORM):
        if rtype != "aws_cloudwatch_metric_alarm":
            continue
        if "metric_name" in body:
            yield name, expr(body["namespace"]), unquote(body["metric_name"]), set(body.get("dimensions", {}))
        for query in body.get("metric_query", []):
            for metric in query.get("metric", []):
                yield name, expr(metric["namespace"]), unquote(metric["metric_name"]), set(metric.get("dimensions", {}))


def test_alarms_on_the_binaries_metrics_use_emitted_metrics_with_their_dimensions(contract):
    ours = [a for a in _alarm_metrics() if a[1] == "var.metrics_namespace"]
    assert {"outbox_lag", "handler_error_rate"} <= {a[0] for a in ours}
    for alarm, _, metric, dims in ours:
        assert metric in contract, f"alarm {alarm} watches {metric}, which no binary emits (metrics-contract.json)"
        assert dims in _allowed_dimension_sets(contract[metric]), (
            f"alarm {alarm}: {metric} with dimensions {sorted(dims)}; the binaries emit "
            f"{[sorted(s) for s in _allowed_dimension_sets(contract[metric])]}"
        )
    for alarm, namespace, metric, _ in _alarm_metrics():
        assert namespace == "var.metrics_namespace" or namespace.startswith('"AWS/') or namespace.startswith("AWS/"), (
            f"alarm {alarm}: {metric} in namespace {namespace}"
        )


def test_alarm_dimensions_have_the_values_the_binaries_give(contract):
    body = (ALARMS / "observability.tf").read_text()
    # Environment is the environment's name (the module's var.name), Service the binary, Queue its queue.
    assert body.count("Environment = var.name, Service = each.key") >= 4
    assert "Queue = each.value" in body
    main = [b for _, (n,), b in blocks("module", TERRAFORM, recursive=False) if n == "alarms"][0]
    assert expr(main["name"]) == "var.environment"
    assert expr(main["metrics_namespace"]) == "var.metrics_namespace"
    assert "local.topics_published_by[bin]" in expr(main["outbox_services"])
    assert "module.messaging.queue_names[local.queues_consumed_by[bin][0]]" in expr(main["worker_queues"])
    # Outbox lag is a gauge in seconds: the threshold is seconds.
    assert contract["OutboxLag"]["unit"] == "Seconds" and contract["OutboxLag"]["kind"] == "gauge"


@pytest.mark.parametrize("binary", BINARIES)
def test_task_definitions_set_the_namespace_and_dimensions_the_dashboard_reads(binary):
    env, _ = raw_container_env(binary)
    assert env.get("METRICS_NAMESPACE") == "${metrics_namespace}", binary
    assert env.get("METRICS_DIMENSIONS") == "${metrics_dimensions}", binary
    contract = env_contract()[binary]
    assert {"METRICS_NAMESPACE", "METRICS_DIMENSIONS", "METRICS_EMF", "METRICS_INTERVAL_SECONDS"} <= set(contract)
    assert contract["METRICS_NAMESPACE"]["default"] == json.loads((ROOT / "metrics-contract.json").read_text())["namespace_default"]


def test_terraform_gives_the_namespace_and_the_environment_dimension():
    ecs = (TERRAFORM / "ecs.tf").read_text()
    assert re.search(r"metrics_namespace\s+= var\.metrics_namespace", ecs)
    assert re.search(r'metrics_dimensions\s+= "Environment=\$\{var\.environment\}"', ecs), (
        "METRICS_DIMENSIONS must give Environment=<environment>, the dimension value the alarms and dashboard use"
    )


# --- the ADOT collector sidecar -------------------------------------------------------------------------------------


def _sidecar(log_group="/switchyard/test/tasks"):
    text = SIDECAR.read_text()
    values = {"image": "public.ecr.aws/aws-observability/aws-otel-collector:v0", "log_group": log_group, "aws_region": "eu-west-1"}
    assert set(PLACEHOLDER.findall(text)) <= set(values)
    return json.loads(PLACEHOLDER.sub(lambda m: values[m.group(1)], text))


def test_the_sidecar_is_passed_the_values_it_uses():
    ecs = (TERRAFORM / "ecs.tf").read_text()
    call = ecs[ecs.index("sidecars/adot-collector.json"):]
    call = call[: call.index("}))")]
    passed = set(re.findall(r"^\s+([a-z_]+)\s+=", call, re.M))
    assert set(PLACEHOLDER.findall(SIDECAR.read_text())) == passed
    assert "local.log_groups[bin]" in call, "the sidecar logs to the binary's log group (the execution role may write there)"


@pytest.mark.parametrize("binary", BINARIES)
def test_a_task_definition_with_the_sidecar_is_valid(binary):
    td = render(binary)
    app = td["containerDefinitions"][0]
    app["environment"] += [{"name": n, "value": "x"} for n in _otel_names()]
    app["dependsOn"] = [{"containerName": _sidecar()["name"], "condition": "START"}]
    td["containerDefinitions"].append(_sidecar())
    shape = ServiceModel(Loader().load_service_model("ecs", "service-2"), "ecs").operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(td, shape)
    assert not report.has_errors(), report.generate_report()
    sidecar = td["containerDefinitions"][1]
    assert sidecar["essential"] is False, "traces are optional: a collector failure must not stop the binary"
    assert sidecar["readonlyRootFilesystem"] is True
    assert sidecar["linuxParameters"]["capabilities"]["drop"] == ["ALL"]


def _otel_names() -> list[str]:
    value = root_locals()["otel_environment"]
    text = expr(value)
    return re.findall(r'name\s*=\s*"([A-Z_]+)"', text)


@pytest.mark.parametrize("binary", BINARIES)
def test_what_terraform_adds_with_the_sidecar_is_read_by_every_binary(binary):
    names = _otel_names()
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in names
    unread = sorted(set(names) - set(env_contract()[binary]))
    assert not unread, f"terraform adds {unread} with the sidecar, which {binary} never reads"


def test_the_sidecar_exports_where_the_collector_listens_and_only_when_it_runs():
    text = expr(root_locals()["otel_environment"])
    assert "http://localhost:4318" in text, "OTLP/HTTP: the collector's ecs-xray.yaml receiver listens on 4318"
    assert "--config=/etc/ecs/ecs-xray.yaml" in _sidecar()["command"]
    ecs = (TERRAFORM / "ecs.tf").read_text()
    for local in ("otel_environment", "adot_depends_on"):
        assert f"if var.adot_collector_enabled" in expr(root_locals()[local]), f"local.{local} only with the sidecar"
    taskdefs = expr(root_locals()["taskdefs"])
    assert "local.otel_environment" in taskdefs and "local.adot_depends_on" in taskdefs
    assert "local.adot_containers[bin]] : c if var.adot_collector_enabled" in taskdefs
    assert "aws-otel-collector" in expr(root_locals()["adot_depends_on"]) and _sidecar()["name"] == "aws-otel-collector"
    assert "local.taskdefs[each.key]" in ecs


def test_the_task_role_grants_x_ray_only_with_the_sidecar():
    scopes = {}
    for entry in parse_tf(TERRAFORM / "iam_scopes.tf").get("locals", []):
        scopes.update(entry)
    statements = expr(scopes["adot_statements"])
    assert "if var.adot_collector_enabled" in statements
    assert set(re.findall(r'"([a-z0-9]+:[A-Za-z]+)"', statements)) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_readme_explains_every_metric(contract):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Observability"):]
    section = section[: section.index("\n## ", 1)]
    missing = sorted(name for name in contract if f"| `{name}` |" not in section)
    assert not missing, f"README.md, Observability: no row for {missing}"
