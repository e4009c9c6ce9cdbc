"""IAM both ways: task role == aws-actions.json == what the binary's Rust code calls.

Terraform side: the task role of every binary is generated from its aws-actions.json (terraform/iam_scopes.tf:
local.aws_actions -> local.task_role_statements -> module.iam -> the role's only policy). This test re-derives
what terraform grants from the same data and fails on anything terraform would drop, fail on, or add.

Code side: the binary crate's src/**/*.rs plus the src/ of its workspace path dependencies (transitively) are
scanned for AWS SDK fluent calls; each maps to its IAM action below. Calls count only in crates that depend on the
SDK crate of that operation (so a domain method called `.publish()` in a crate without aws-sdk-sns is ignored). The
consumer runtime's own SQS client is found by the X-Amz-Target literals it sends ("AmazonSQS.ReceiveMessage").
kms:* is exempt on the code side (the SDK calls KMS implicitly for SSE).
"""

import json
import re
import tomllib
from pathlib import Path

import pytest

from _infra import ROOT, TERRAFORM, blocks, discover_binary_dirs, expr, load_aws_actions, parse_tf, unquote

# SDK fluent operation -> IAM action, per SDK crate. Several operations share an action (the batch variants).
SDK_OPERATIONS = {
    "aws-sdk-sns": {
        "publish": "sns:Publish",
        "publish_batch": "sns:Publish",
        "create_topic": "sns:CreateTopic",
        "delete_topic": "sns:DeleteTopic",
        "subscribe": "sns:Subscribe",
        "unsubscribe": "sns:Unsubscribe",
        "get_topic_attributes": "sns:GetTopicAttributes",
        "set_topic_attributes": "sns:SetTopicAttributes",
        "get_subscription_attributes": "sns:GetSubscriptionAttributes",
        "set_subscription_attributes": "sns:SetSubscriptionAttributes",
        "list_topics": "sns:ListTopics",
        "list_subscriptions": "sns:ListSubscriptions",
        "list_subscriptions_by_topic": "sns:ListSubscriptionsByTopic",
    },
    "aws-sdk-sqs": {
        "receive_message": "sqs:ReceiveMessage",
        "delete_message": "sqs:DeleteMessage",
        "delete_message_batch": "sqs:DeleteMessage",
        "change_message_visibility": "sqs:ChangeMessageVisibility",
        "change_message_visibility_batch": "sqs:ChangeMessageVisibility",
        "send_message": "sqs:SendMessage",
        "send_message_batch": "sqs:SendMessage",
        "get_queue_attributes": "sqs:GetQueueAttributes",
        "set_queue_attributes": "sqs:SetQueueAttributes",
        "get_queue_url": "sqs:GetQueueUrl",
        "create_queue": "sqs:CreateQueue",
        "delete_queue": "sqs:DeleteQueue",
        "purge_queue": "sqs:PurgeQueue",
        "list_queues": "sqs:ListQueues",
        "list_dead_letter_source_queues": "sqs:ListDeadLetterSourceQueues",
        "start_message_move_task": "sqs:StartMessageMoveTask",
    },
    "aws-sdk-sesv2": {
        "send_email": "ses:SendEmail",
        "send_bulk_email": "ses:SendBulkEmail",
        "put_suppressed_destination": "ses:PutSuppressedDestination",
        "delete_suppressed_destination": "ses:DeleteSuppressedDestination",
        "get_suppressed_destination": "ses:GetSuppressedDestination",
        "list_suppressed_destinations": "ses:ListSuppressedDestinations",
        "get_account": "ses:GetAccount",
    },
    "aws-sdk-ses": {
        "send_email": "ses:SendEmail",
        "send_raw_email": "ses:SendRawEmail",
    },
}
CODE_EXEMPT_PREFIXES = ("kms:",)
# The consumer runtime's own SQS client (crates/switchyard-consumer/src/sqs.rs) names its calls by the JSON protocol's
# X-Amz-Target ("AmazonSQS.ReceiveMessage"), not by SDK fluent calls: such a string literal counts as the call it names,
# in any crate.
WIRE_TARGETS = {"AmazonSQS": "aws-sdk-sqs"}
WIRE_TARGET = re.compile(r'"(AmazonSQS)\.([A-Z][A-Za-z]*)"')
CALL = re.compile(r"\.\s*([a-z][a-z0-9_]*)\s*\(")
LINE_COMMENT = re.compile(r"//[^\n]*")
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)


# --- terraform side -----------------------------------------------------------------------------------------------


def _iam_scope_locals():
    merged = {}
    for entry in parse_tf(TERRAFORM / "iam_scopes.tf").get("locals", []):
        merged.update(entry)
    return merged


def _action_scopes():
    return {unquote(k): unquote(v) for k, v in _iam_scope_locals()["action_scopes"].items() if not k.startswith("__")}


def test_task_role_statements_come_from_aws_actions_json():
    scopes = _iam_scope_locals()
    assert '/aws-actions.json")).actions' in expr(scopes["aws_actions"]), "local.aws_actions must read aws-actions.json"
    statements = expr(scopes["task_role_statements"])
    assert "for bin, actions in local.aws_actions" in statements
    assert "local.action_scopes[a]" in statements and "local.scope_resources[bin][scope]" in statements

    iam = [b for _, (n,), b in blocks("module", TERRAFORM, recursive=False) if n == "iam"][0]
    # Plus, only with the ADOT collector sidecar, its X-Ray grant (test_observability.py checks it).
    assert expr(iam["task_statements"]) == "concat(local.task_role_statements[each.key], local.adot_statements)"


def test_task_role_has_no_other_permissions():
    module = TERRAFORM / "modules" / "iam"
    docs = {n: b for _, (t, n), b in blocks("data", module) if t == "aws_iam_policy_document"}
    task_doc = docs["task"]
    assert set(k for k in task_doc if not k.startswith("__")) == {"count", "dynamic"}, "task policy: only var.task_statements"
    assert len(task_doc["dynamic"]) == 1 and list(task_doc["dynamic"][0]) == ['"statement"']
    content = task_doc["dynamic"][0]['"statement"']
    assert expr(content["for_each"]) == "var.task_statements"
    assert expr(content["content"][0]["actions"]) == "statement.value.actions"

    task_policies = [b for _, (t, n), b in blocks("resource", TERRAFORM) if t == "aws_iam_role_policy" and "aws_iam_role.task" in expr(b.get("role", ""))]
    assert len(task_policies) == 1, "the task role has exactly one inline policy"
    for _, (t, n), b in blocks("resource", TERRAFORM):
        if t in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment"):
            assert "aws_iam_role.task" not in json.dumps(b), f"{t}.{n} attaches a managed policy to a task role"


@pytest.mark.parametrize("binary", sorted(discover_binary_dirs()))
def test_terraform_grants_exactly_aws_actions_json(binary, binary_dirs, tf_binaries, topology):
    declared = load_aws_actions(binary_dirs[binary])
    assert isinstance(declared.get("actions"), list) and declared["actions"], f"{binary}: aws-actions.json needs actions"
    assert isinstance(declared.get("resources_note"), str) and declared["resources_note"].strip(), f"{binary}: resources_note"
    actions = set(declared["actions"])
    assert len(actions) == len(declared["actions"]), f"{binary}: duplicate actions"

    scopes = _action_scopes()
    unknown = actions - set(scopes)
    assert not unknown, (
        f"{binary}: {sorted(unknown)} have no resource scope in terraform/iam_scopes.tf (terraform plan would fail); "
        "add them to local.action_scopes with the narrowest resources"
    )

    # What terraform grants = the statements built per scope; a scope without resources fails the plan
    # (precondition in modules/iam), so check it here too.
    publishes = [k for k, t in topology["topics"].items() if binary in t["publishers"]]
    consumes = [k for k, q in topology["queues"].items() if q["consumer"] == binary]
    granted = set()
    for scope in {scopes[a] for a in actions}:
        if scope == "own_topics":
            assert publishes, f"{binary} lists sns actions but publishes to no topic in topology.json"
        if scope == "own_queues":
            assert consumes, f"{binary} lists sqs actions but consumes no queue in topology.json"
        granted |= {a for a in actions if scopes[a] == scope}
    assert granted == actions

    # The encryption key: publishers to SSE topics need GenerateDataKey + Decrypt, consumers of SSE queues Decrypt.
    if publishes:
        assert {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"} <= actions, f"{binary} publishes to {publishes}"
    if consumes:
        assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "kms:Decrypt"} <= actions, (
            f"{binary} consumes {consumes}"
        )


# --- code side ----------------------------------------------------------------------------------------------------


def _cargo(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def _workspace_paths() -> dict[str, Path]:
    root = _cargo(ROOT / "Cargo.toml")
    deps = root.get("workspace", {}).get("dependencies", {})
    return {name: (ROOT / spec["path"]).resolve() for name, spec in deps.items() if isinstance(spec, dict) and "path" in spec}


def _dependency_tables(manifest: dict):
    yield manifest.get("dependencies", {})
    for target in manifest.get("target", {}).values():
        yield target.get("dependencies", {})


def _crate_deps(crate_dir: Path) -> tuple[set[str], list[Path]]:
    """(names of SDK crates it depends on, directories of its path dependencies)."""
    manifest = _cargo(crate_dir / "Cargo.toml")
    workspace = _workspace_paths()
    sdks, paths = set(), []
    for table in _dependency_tables(manifest):
        for key, spec in table.items():
            package = spec.get("package", key) if isinstance(spec, dict) else key
            if package in SDK_OPERATIONS:
                sdks.add(package)
            if isinstance(spec, dict) and "path" in spec:
                paths.append((crate_dir / spec["path"]).resolve())
            elif isinstance(spec, dict) and spec.get("workspace") and key in workspace:
                paths.append(workspace[key])
    return sdks, paths


def _crate_closure(crate_dir: Path) -> dict[Path, set[str]]:
    seen: dict[Path, set[str]] = {}
    todo = [crate_dir.resolve()]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        assert (current / "Cargo.toml").is_file(), f"path dependency {current} has no Cargo.toml"
        sdks, deps = _crate_deps(current)
        seen[current] = sdks
        todo.extend(deps)
    return seen


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def code_actions(crate_dir: Path) -> dict[str, list[str]]:
    """IAM action => ["file:line .operation()", ...] for every SDK call reachable from the binary crate."""
    found: dict[str, list[str]] = {}
    for crate, sdks in sorted(_crate_closure(crate_dir).items()):
        operations = {}
        for sdk in sorted(sdks):
            operations.update(SDK_OPERATIONS[sdk])
        for source in sorted((crate / "src").rglob("*.rs")):
            text = BLOCK_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), source.read_text())
            text = LINE_COMMENT.sub("", text)
            for match in CALL.finditer(text) if operations else ():
                action = operations.get(match.group(1))
                if action:
                    line = text.count("\n", 0, match.start()) + 1
                    found.setdefault(action, []).append(f"{source.relative_to(ROOT)}:{line} .{match.group(1)}()")
            for match in WIRE_TARGET.finditer(text):
                operation = _snake(match.group(2))
                action = SDK_OPERATIONS[WIRE_TARGETS[match.group(1)]].get(operation)
                assert action, f"{source.relative_to(ROOT)}: {match.group(0)} is no SQS operation this test knows"
                line = text.count("\n", 0, match.start()) + 1
                found.setdefault(action, []).append(f"{source.relative_to(ROOT)}:{line} {match.group(0)}")
    return found


@pytest.mark.parametrize("binary", sorted(discover_binary_dirs()))
def test_aws_actions_json_matches_the_code(binary, binary_dirs):
    directory = binary_dirs[binary]
    if not (directory / "Cargo.toml").is_file():
        reason = f"{directory.relative_to(ROOT)} has no Cargo.toml yet: code side of the IAM check skipped for {binary}"
        print(reason)
        pytest.skip(reason)
    declared = {a for a in load_aws_actions(directory)["actions"] if not a.startswith(CODE_EXEMPT_PREFIXES)}
    called = code_actions(directory)
    missing = {a: called[a] for a in sorted(set(called) - declared)}
    unused = sorted(declared - set(called))
    assert not missing and not unused, (
        f"{binary}: aws-actions.json and the code disagree.\n"
        f"  called but not declared (add to {directory.relative_to(ROOT)}/aws-actions.json): {json.dumps(missing, indent=2)}\n"
        f"  declared but never called (remove them): {unused}"
    )


def test_code_scanner_finds_calls_through_dependencies(tmp_path, monkeypatch):
    """The scanner itself: SDK calls in a path dependency count, comments and non-SDK crates do not."""
    (tmp_path / "Cargo.toml").write_text('[workspace.dependencies]\nlib = { path = "lib" }\n')
    (tmp_path / "bin" / "src").mkdir(parents=True)
    (tmp_path / "bin" / "Cargo.toml").write_text('[package]\nname = "bin"\n[dependencies]\nlib.workspace = true\n')
    (tmp_path / "bin" / "src" / "main.rs").write_text("fn main() { publisher.publish(event); }\n")
    (tmp_path / "lib" / "src").mkdir(parents=True)
    (tmp_path / "lib" / "Cargo.toml").write_text('[package]\nname = "lib"\n[dependencies]\naws-sdk-sqs = "1"\n')
    (tmp_path / "lib" / "src" / "lib.rs").write_text(
        "// .send_message() in a comment\n/* .purge_queue() */\nfn f() { client\n    .receive_message()\n    .send(); }\n"
    )
    monkeypatch.setattr("test_iam.ROOT", tmp_path)
    assert set(code_actions(tmp_path / "bin")) == {"sqs:ReceiveMessage"}


def test_code_scanner_counts_the_runtimes_sqs_wire_targets(tmp_path, monkeypatch):
    """A crate without the SDK that names "AmazonSQS.<Operation>" targets calls those operations (batch variants map
    to their action); a commented-out target does not count."""
    (tmp_path / "Cargo.toml").write_text("[workspace.dependencies]\n")
    (tmp_path / "bin" / "src").mkdir(parents=True)
    (tmp_path / "bin" / "Cargo.toml").write_text('[package]\nname = "bin"\n')
    (tmp_path / "bin" / "src" / "main.rs").write_text(
        'const R: &str = "AmazonSQS.ReceiveMessage";\nconst D: &str = "AmazonSQS.DeleteMessageBatch";\n'
        '// "AmazonSQS.PurgeQueue"\n'
    )
    monkeypatch.setattr("test_iam.ROOT", tmp_path)
    assert set(code_actions(tmp_path / "bin")) == {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
