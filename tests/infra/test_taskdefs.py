"""ecs-taskdefs/<bin>.json rendered like terraform's templatefile() are valid RegisterTaskDefinition input
(botocore's ECS service model) and follow the project rules and the binaries' environment contract."""

import json
import re

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

from _infra import PLACEHOLDER, TASKDEFS, TERRAFORM, render, taskdef_var_names

# Fargate task sizes: cpu units => allowed memory (MiB) for the small sizes this project uses.
FARGATE_SIZES = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
}

# Values the task definitions must use whatever the deployment (the rest of the contract: test_contract.py).
FIXED_VALUES = {
    "HTTP_ADDR": "0.0.0.0:8080",
    "HEALTH_ADDR": "127.0.0.1:9000",
    "SES_API": "v2",
}
SECRET_NAME = re.compile(r"(^(DATABASE|REDIS)_URL$)|KEY|TOKEN|PASSWORD|SECRET|CREDENTIAL", re.I)


@pytest.fixture(scope="module")
def register_input_shape():
    loader = Loader()
    model = ServiceModel(loader.load_service_model("ecs", "service-2"), "ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


BINARIES = sorted(p.stem for p in TASKDEFS.glob("*.json"))


def test_there_are_task_definitions():
    assert BINARIES, "ecs-taskdefs/ is empty"


def test_placeholders_are_terraform_variables():
    assert {"family", "image", "execution_role_arn", "task_role_arn", "cpu", "memory", "log_group"} <= taskdef_var_names()


@pytest.mark.parametrize("binary", BINARIES)
def test_raw_file_is_json(binary):
    json.loads((TASKDEFS / f"{binary}.json").read_text())


@pytest.mark.parametrize("binary", BINARIES)
def test_rendered_is_valid_register_task_definition_input(binary, register_input_shape):
    report = ParamValidator().validate(render(binary), register_input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("binary", BINARIES)
def test_project_rules(binary, tf_binaries):
    td = render(binary)
    kind = tf_binaries[binary]["kind"]
    raw = json.loads((TASKDEFS / f"{binary}.json").read_text())

    # Values that come from terraform, not from the file.
    for key, placeholder in [("family", "${family}"), ("taskRoleArn", "${task_role_arn}"),
                             ("executionRoleArn", "${execution_role_arn}"), ("cpu", "${cpu}"), ("memory", "${memory}")]:
        assert raw[key] == placeholder, f"{binary}: {key} must be {placeholder}"
    assert td["networkMode"] == "awsvpc" and td["requiresCompatibilities"] == ["FARGATE"]

    assert len(td["containerDefinitions"]) == 1, f"{binary}: one container per task"
    c = td["containerDefinitions"][0]
    assert c["name"] == binary
    assert raw["containerDefinitions"][0]["image"] == "${image}"
    assert c.get("essential") is True

    user = str(c.get("user", ""))
    assert user and user.split(":")[0] not in ("", "0", "root"), f"{binary}: container must run as a non-root user"
    assert c.get("readonlyRootFilesystem") is True, f"{binary}: readonlyRootFilesystem must be true"
    volumes = {v["name"] for v in td.get("volumes", [])}
    for mp in c.get("mountPoints", []):
        assert mp["sourceVolume"] in volumes, f"{binary}: mount of unknown volume {mp['sourceVolume']}"
    assert any(mp["containerPath"] == "/tmp" for mp in c.get("mountPoints", [])), f"{binary}: writable /tmp volume"
    assert c.get("linuxParameters", {}).get("capabilities", {}).get("drop") == ["ALL"], f"{binary}: drop capabilities"

    hc = c.get("healthCheck")
    assert hc and hc["command"] == ["CMD", f"/usr/local/bin/{binary}", "healthcheck"], f"{binary}: healthCheck"

    log = c.get("logConfiguration", {})
    assert log.get("logDriver") == "awslogs", f"{binary}: awslogs log driver"
    assert {"awslogs-group", "awslogs-region", "awslogs-stream-prefix"} <= set(log.get("options", {}))

    env = {e["name"]: e["value"] for e in c.get("environment", [])}
    secrets = {s["name"]: s["valueFrom"] for s in c.get("secrets", [])}
    assert len(env) == len(c.get("environment", [])) and len(secrets) == len(c.get("secrets", [])), "duplicate names"
    assert not set(env) & set(secrets), f"{binary}: {set(env) & set(secrets)} both in environment and secrets"
    leaked = sorted(n for n in env if SECRET_NAME.search(n))
    assert not leaked, f"{binary}: secret-looking variables in plaintext environment: {leaked} (use `secrets`)"
    for name, value_from in secrets.items():
        assert value_from.startswith(("arn:aws:secretsmanager:", "arn:aws:ssm:")), f"{binary}: {name} valueFrom"

    for name, value in FIXED_VALUES.items():
        if name in env:
            assert env[name] == value, f"{binary}: {name} must be {value}"

    if kind == "service":
        ports = [p["containerPort"] for p in c.get("portMappings", [])]
        assert ports == [int(env["HTTP_ADDR"].rsplit(":", 1)[1])], f"{binary}: port mapping must match HTTP_ADDR"
    else:
        assert not c.get("portMappings"), f"{binary}: workers expose no port"
        deadline = int(env["SHUTDOWN_DEADLINE_SECONDS"])
        assert c.get("stopTimeout", 0) >= max(30, deadline + 5), f"{binary}: stopTimeout must be >= 30 and > the drain deadline"
    assert c.get("stopTimeout", 30) <= 120, "Fargate stopTimeout is at most 120 s"


def test_default_sizes_are_valid_fargate_sizes():
    text = (TERRAFORM / "locals.tf").read_text()
    sizes = re.findall(r"\{ cpu = (\d+), memory = (\d+) \}", text)
    assert re.search(r"lookup\(var\.task_sizes, bin, lookup\(local\.measured_task_sizes, bin, \{ cpu = \d+", text), (
        "locals.tf: task sizes must come from var.task_sizes, then the measured sizes, then a default"
    )
    assert len(sizes) >= 2, "locals.tf: default and measured task sizes not found"
    for cpu, memory in sizes:
        assert int(memory) in FARGATE_SIZES[int(cpu)], f"{cpu}/{memory} is not a Fargate size"


def test_rendering_matches_templatefile_semantics():
    """The renderer refuses what templatefile would treat differently."""
    assert PLACEHOLDER.findall('{"a": "${x}", "b": "$y"}') == ["x"]
