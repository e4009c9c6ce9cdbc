"""topology.json and the binaries on disk are what terraform deploys, through for_each (never typed by name)."""

import re

import pytest

from _infra import ROOT, TASKDEFS, TERRAFORM, blocks, expr, parse_tf, tf_files, unquote

MESSAGING = TERRAFORM / "modules" / "messaging"


def _module(name):
    found = [body for _, (n,), body in blocks("module", TERRAFORM, recursive=False) if n == name]
    assert found, f'terraform/ has no module "{name}"'
    return found[0]


def _resources(rtype, directory=TERRAFORM):
    return [(path, name, body) for path, (t, name), body in blocks("resource", directory) if t == rtype]


# --- messaging ----------------------------------------------------------------------------------------------------


def test_topology_is_read_with_jsondecode(tf_locals):
    topology_expr = expr(tf_locals["topology"])
    assert re.fullmatch(r'jsondecode\(file\("\$\{path\.module\}/\.\./topology\.json"\)\)', topology_expr), topology_expr
    for kind in ("topics", "queues", "subscriptions"):
        assert f"local.topology.{kind}" in expr(tf_locals[kind]), f"local.{kind} must be derived from local.topology.{kind}"


def test_messaging_module_gets_the_topology(tf_locals):
    module = _module("messaging")
    assert unquote(module["source"]) == "./modules/messaging"
    for kind in ("topics", "queues", "subscriptions"):
        assert expr(module[kind]) == f"local.{kind}", f"module.messaging.{kind} must be local.{kind}"


@pytest.mark.parametrize(
    ("rtype", "name", "for_each", "physical_name"),
    [
        ("aws_sns_topic", "this", "var.topics", "${var.environment}-${each.key}"),
        ("aws_sqs_queue", "this", "var.queues", "${var.environment}-${each.key}"),
        ("aws_sqs_queue", "dlq", "var.queues", "${var.environment}-${each.key}-dlq"),
        ("aws_sns_topic_subscription", "this", "var.subscriptions", None),
        ("aws_sns_topic_policy", "this", "var.topics", None),
        ("aws_sqs_queue_policy", "this", "var.queues", None),
        ("aws_sqs_queue_policy", "dlq", "var.queues", None),
        ("aws_sqs_queue_redrive_allow_policy", "dlq", "var.queues", None),
    ],
)
def test_messaging_resources_use_for_each_over_the_topology(rtype, name, for_each, physical_name):
    found = {n: body for _, n, body in _resources(rtype, MESSAGING)}
    assert name in found, f"modules/messaging has no {rtype}.{name}"
    body = found[name]
    assert expr(body.get("for_each")) == for_each, f"{rtype}.{name} must use for_each = {for_each}"
    if physical_name is not None:
        assert unquote(body["name"]) == physical_name, f"{rtype}.{name}: name must be {physical_name!r}"


def test_subscription_attributes_come_from_the_topology():
    body = {n: b for _, n, b in _resources("aws_sns_topic_subscription", MESSAGING)}["this"]
    assert expr(body["topic_arn"]) == "aws_sns_topic.this[each.value.topic].arn"
    assert expr(body["endpoint"]) == "aws_sqs_queue.this[each.value.queue].arn"
    assert unquote(body["protocol"]) == "sqs"
    assert expr(body["raw_message_delivery"]) == "each.value.raw_message_delivery"
    assert expr(body["filter_policy"]) == "each.value.filter_policy"


def test_queues_get_redrive_and_sse():
    queues = {n: b for _, n, b in _resources("aws_sqs_queue", MESSAGING)}
    assert "aws_sqs_queue.dlq[each.key].arn" in expr(queues["this"]["redrive_policy"])
    assert "each.value.max_receive_count" in expr(queues["this"]["redrive_policy"])
    for name, body in queues.items():
        assert expr(body.get("kms_master_key_id")) == "var.kms_key_arn", f"aws_sqs_queue.{name} must use the CMK"
    for _, name, body in _resources("aws_sns_topic"):
        assert "kms_master_key_id" in body, f"aws_sns_topic.{name} has no SSE"


def test_queue_policy_allows_only_subscribed_topics():
    text = (MESSAGING / "main.tf").read_text()
    assert 'variable = "aws:SourceArn"' in text and 'test     = "ArnEquals"' in text
    assert "s.queue == q" in text, "queue_sources must select the subscriptions of the queue"


def test_no_topology_name_is_typed_in_terraform(topology):
    """Topic and subscription keys and DLQ names never appear as literals; queue keys equal binary names, so for
    queues the check is that no aws_sqs_queue/aws_sns_topic is named by a literal."""
    typed = set(topology["topics"]) | set(topology["subscriptions"]) | {f"{q}-dlq" for q in topology["queues"]}
    literal = re.compile(r'"([^"$]*)"')
    offenders = []
    for path in tf_files():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith(("#", "//")):
                continue
            for lit in literal.findall(line):
                if any(re.search(rf"(^|[^a-z0-9-]){re.escape(n)}($|[^a-z0-9-])", lit) for n in typed):
                    offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not offenders, "topology names typed in terraform:\n" + "\n".join(offenders)

    for rtype in ("aws_sqs_queue", "aws_sns_topic"):
        for path, name, body in _resources(rtype):
            if path.is_relative_to(MESSAGING):
                continue
            physical = unquote(body.get("name", ""))
            assert not any(q in physical for q in list(topology["queues"]) + list(topology["topics"])), (
                f"{path.relative_to(ROOT)}: {rtype}.{name} looks like a topology resource created outside for_each"
            )


def test_topology_relations_are_derived_not_typed(tf_locals):
    assert "contains(t.publishers, bin)" in expr(tf_locals["topics_published_by"])
    assert "q.consumer == bin" in expr(tf_locals["queues_consumed_by"])
    assert 'contains(t.publishers, "ses")' in expr(tf_locals["ses_feedback_topics"])


def test_every_topology_consumer_and_publisher_is_a_binary(topology, tf_binaries):
    for key, q in topology["queues"].items():
        assert q["consumer"] in tf_binaries, f"queue {key}: consumer {q['consumer']} is not a deployed binary"
    for key, t in topology["topics"].items():
        for p in t["publishers"]:
            assert p == "ses" or p in tf_binaries, f"topic {key}: publisher {p} is neither a binary nor ses"
    for key, s in topology["subscriptions"].items():
        assert s["topic"] in topology["topics"] and s["queue"] in topology["queues"], f"subscription {key} is dangling"


# --- binaries -----------------------------------------------------------------------------------------------------


def test_every_binary_directory_is_deployed(binary_dirs, tf_binaries):
    on_disk = {name: str(path.relative_to(ROOT)) for name, path in binary_dirs.items()}
    in_tf = {name: b["dir"] for name, b in tf_binaries.items()}
    assert on_disk == in_tf, f"binary directories on disk {on_disk} != local.binaries in terraform {in_tf}"


def test_every_binary_has_aws_actions_and_a_task_definition(tf_binaries):
    for name, b in tf_binaries.items():
        assert (ROOT / b["dir"] / "aws-actions.json").is_file(), f"{b['dir']}/aws-actions.json is missing"
        assert (TASKDEFS / f"{name}.json").is_file(), f"ecs-taskdefs/{name}.json is missing"
    extra = {p.stem for p in TASKDEFS.glob("*.json")} - set(tf_binaries)
    assert not extra, f"task definitions without a binary: {sorted(extra)}"


def test_task_definitions_are_rendered_with_templatefile(tf_locals):
    rendered = expr(tf_locals["rendered_taskdefs"])
    assert "for bin in keys(local.binaries)" in rendered
    assert 'templatefile("${path.module}/../ecs-taskdefs/${bin}.json", local.taskdef_vars[bin])' in rendered
    # local.taskdefs is each rendered file, plus the ADOT sidecar when enabled (test_observability.py).
    assert expr(tf_locals["taskdefs"]).startswith("{for bin, td in local.rendered_taskdefs : bin => merge(td,")


def test_every_binary_has_an_ecs_service_and_a_task_role():
    ecs = _module("ecs_service")
    assert unquote(ecs["source"]) == "./modules/ecs-service" and expr(ecs["for_each"]) == "local.binaries"
    assert expr(ecs["task_definition"]) == "local.taskdefs[each.key]"
    iam = _module("iam")
    assert unquote(iam["source"]) == "./modules/iam" and expr(iam["for_each"]) == "local.binaries"
    assert expr(ecs["task_role_arn"]) == "module.iam[each.key].task_role_arn"

    service_dir = TERRAFORM / "modules" / "ecs-service"
    types = {t for _, (t, _), _ in blocks("resource", service_dir)}
    assert {"aws_ecs_service", "aws_ecs_task_definition", "aws_cloudwatch_log_group", "aws_appautoscaling_target"} <= types
    roles = {n for _, (t, n), _ in blocks("resource", TERRAFORM / "modules" / "iam") if t == "aws_iam_role"}
    assert {"task", "execution"} <= roles


def test_http_services_are_routed_and_workers_are_not(tf_binaries):
    for name, b in tf_binaries.items():
        assert b["kind"] in ("service", "worker"), name
        if b["kind"] == "service":
            assert b["paths"], f"{name}: an HTTP service needs ALB path patterns"
            assert len(b["paths"]) <= 5, f"{name}: an ALB rule takes at most 5 path patterns"
            assert not any(p.startswith("/internal") for p in b["paths"]), f"{name}: /internal/* must not be public"
        else:
            assert not b["paths"], f"{name}: workers have no load balancer"
    priorities = [b["route_priority"] for b in tf_binaries.values() if b["kind"] == "service"]
    assert len(set(priorities)) == len(priorities), "listener rule priorities must be unique"
