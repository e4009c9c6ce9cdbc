"""What a first `terraform apply` and `docker compose up` need beyond valid syntax (issue 10): each test pins one
thing that kept the binaries from starting, or would have misbehaved, in AWS or in compose.

Not checked here, because this machine has no AWS account, no provider download and no Docker engine: what AWS
itself accepts (terraform/README.md, "What the checks here cannot prove", gives the commands for a sandbox)."""

import json
import re
from pathlib import PurePosixPath

import pytest

from _infra import (
    ROOT,
    TERRAFORM,
    blocks,
    compose,
    compose_env,
    expr,
    parse_tf,
    raw_container_env,
    tf_files,
    unquote,
)


def _resource(rtype, name, directory=TERRAFORM):
    found = [body for _, (t, n), body in blocks("resource", directory) if t == rtype and n == name]
    assert found, f"no {rtype}.{name} under {directory.relative_to(ROOT)}"
    return found[0]


def _module(name):
    found = [body for _, (n,), body in blocks("module", TERRAFORM, recursive=False) if n == name]
    assert found, f'terraform/ has no module "{name}"'
    return found[0]


def _variable(name, path=TERRAFORM / "variables.tf"):
    for entry in parse_tf(path).get("variable", []):
        for key, body in entry.items():
            if unquote(key) == name:
                return body
    pytest.fail(f"{path.relative_to(ROOT)} has no variable {name}")


def _output(name, path):
    for entry in parse_tf(path).get("output", []):
        for key, body in entry.items():
            if unquote(key) == name:
                return body
    pytest.fail(f"{path.relative_to(ROOT)} has no output {name}")


def _hcl_condition(condition: str, **variables) -> bool:
    """Evaluates a simple HCL boolean condition (var.x, ||, &&, !, comparisons, contains, floor) in Python."""
    code = expr(condition)
    code = re.sub(r"var\.([a-z_]+)", r"var_\1", code)
    code = code.replace("||", " or ").replace("&&", " and ")
    code = re.sub(r"!(?!=)", " not ", code)
    code = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", code))
    env = {f"var_{k}": v for k, v in variables.items()}
    env.update(contains=lambda items, x: x in items, floor=lambda x: int(x // 1))
    return bool(eval(code, {"__builtins__": {}}, env))  # noqa: S307 (the condition comes from this repository)


# --- 3. ECS services only after their target group is on a listener ---------------------------------------------


def test_services_behind_the_alb_wait_for_the_listener_rules(tf_binaries):
    """Creating an ECS service with a load balancer before a listener rule forwards to its target group fails
    ("target group ... does not have an associated load balancer"). The services get their target group from
    module.alb's output, which depends on the listener rules."""
    service = _resource("aws_ecs_service", "this", TERRAFORM / "modules" / "ecs-service")
    lb = next(d['"load_balancer"'] for d in service["dynamic"] if '"load_balancer"' in d)
    assert expr(lb["for_each"]).startswith("var.target_group_arn == null"), "load_balancer comes from var.target_group_arn"
    assert expr(lb["content"][0]["target_group_arn"]) == "load_balancer.value"

    ecs = _module("ecs_service")
    assert "module.alb.target_group_arns[each.key]" in expr(ecs["target_group_arn"])
    output = _output("target_group_arns", TERRAFORM / "modules" / "alb" / "outputs.tf")
    assert "${aws_lb_listener_rule.service}" in output.get("depends_on", []), (
        "modules/alb output target_group_arns must depend_on the listener rules that forward to the target groups"
    )
    rule = _resource("aws_lb_listener_rule", "service", TERRAFORM / "modules" / "alb")
    target_groups = _resource("aws_lb_target_group", "this", TERRAFORM / "modules" / "alb")
    assert expr(rule["for_each"]) == expr(target_groups["for_each"]) == "var.services", "one rule per target group"
    assert expr(rule["action"][0]["target_group_arn"]) == "aws_lb_target_group.this[each.key].arn"
    assert any(b["kind"] == "service" for b in tf_binaries.values())


# --- 6. identity behind the ALB: the client address from X-Forwarded-For ----------------------------------------


def test_identity_trusts_exactly_the_alb_hop():
    alb = _resource("aws_lb", "this", TERRAFORM / "modules" / "alb")
    assert unquote(alb.get("xff_header_processing_mode")) == "append", "the ALB must append the client address"
    assert alb.get("enable_xff_client_port") is False, "X-Forwarded-For entries must be plain addresses"
    env, _ = raw_container_env("identity")
    assert env.get("TRUSTED_PROXY_HOPS") == "${trusted_proxy_hops}"
    assert re.search(r"trusted_proxy_hops\s+= tostring\(var.trusted_proxy_hops\)", (TERRAFORM / "ecs.tf").read_text())
    variable = _variable("trusted_proxy_hops")
    assert expr(variable["default"]) == "1"
    conditions = [v["condition"] for v in variable["validation"]]
    assert not any(_hcl_condition(c, trusted_proxy_hops=0) for c in conditions), "0 hops would trust no proxy"
    assert all(_hcl_condition(c, trusted_proxy_hops=1) for c in conditions)


# --- 8. backlog per task with no task running ---------------------------------------------------------------------


def _fill(value, default):
    return default if value is None else value


def _if(condition, then, otherwise):
    return then if condition else otherwise


def _evaluate_metric_math(expression: str, **series):
    """Evaluates one datapoint of a CloudWatch metric math expression with FILL and IF; None = no datapoint."""
    code = expression.replace("FILL(", "_fill(").replace("IF(", "_if(")
    try:
        return eval(code, {"__builtins__": {}}, {"_fill": _fill, "_if": _if, **series})  # noqa: S307
    except (TypeError, ZeroDivisionError):
        return None


@pytest.mark.parametrize(
    ("visible", "tasks", "expected"),
    [(None, None, 0), (0, None, 0), (120, None, 120), (120, 0, 120), (120, 1, 120), (120, 4, 30), (0, 2, 0)],
)
def test_backlog_per_task_has_a_datapoint_at_zero_running_tasks(visible, tasks, expected):
    """RunningTaskCount has no datapoint when no task runs; `visible / tasks` would then give none, and the worker
    would never scale out of it."""
    policy = _resource("aws_appautoscaling_policy", "backlog", TERRAFORM / "modules" / "ecs-service")
    metrics = policy["target_tracking_scaling_policy_configuration"][0]["customized_metric_specification"][0]["metrics"]
    by_id = {unquote(m["id"]): m for m in metrics}
    returned = [m for m in metrics if m.get("return_data") is True]
    assert len(returned) == 1 and "expression" in returned[0]
    assert {"visible", "tasks"} <= set(by_id)
    result = _evaluate_metric_math(unquote(returned[0]["expression"]), visible=visible, tasks=tasks)
    assert result == expected, f"{unquote(returned[0]['expression'])} with visible={visible}, tasks={tasks}"


# --- 8. no NAT gateway needs the VPC endpoints ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nat", "endpoints", "accepted"),
    [(0, False, False), (0, True, True), (1, False, True), (2, True, True), (3, True, False)],
)
def test_nat_gateway_count_zero_needs_vpc_endpoints(nat, endpoints, accepted):
    variable = _variable("nat_gateway_count")
    results = [
        _hcl_condition(v["condition"], nat_gateway_count=nat, enable_vpc_endpoints=endpoints)
        for v in variable["validation"]
    ]
    assert all(results) == accepted, f"nat_gateway_count={nat}, enable_vpc_endpoints={endpoints}"


def test_terraform_version_allows_cross_variable_validation():
    required = unquote(parse_tf(TERRAFORM / "versions.tf")["terraform"][0]["required_version"])
    major, minor = map(int, re.search(r">=\s*(\d+)\.(\d+)", required).groups())
    assert (major, minor) >= (1, 9), "validations that refer to another variable need Terraform >= 1.9"


# --- 8. Postgres TLS verifies the server ----------------------------------------------------------------------------


def _data_locals():
    merged = {}
    for path in sorted((TERRAFORM / "modules" / "data").glob("*.tf")):
        for entry in parse_tf(path).get("locals", []):
            merged.update(entry)
    return merged


def test_database_urls_verify_the_server_against_the_rds_bundle_in_the_image():
    text = (TERRAFORM / "modules" / "data" / "postgres.tf").read_text()
    urls = re.findall(r'url\s*=\s*"(postgres://[^"]+)"', text)
    assert urls, "modules/data/postgres.tf: no DATABASE_URL"
    for url in urls:
        assert "sslmode=verify-full" in url and "sslrootcert=${local.rds_ca_bundle}" in url, url
    data = _data_locals()
    bundle, bundle_url = unquote(data["rds_ca_bundle"]), unquote(data["rds_ca_bundle_url"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    runtime = dockerfile[dockerfile.rindex("\nFROM ") :]
    added = re.findall(r"^ADD (?:--\S+ )*(https://\S+) (\S+)$", runtime, re.M)
    assert (bundle_url, bundle) in added, f"the runtime image must ADD {bundle_url} at {bundle} (found {added})"
    assert bundle_url.startswith("https://truststore.pki.rds.amazonaws.com/")


def test_the_bootstrap_task_verifies_the_server_too():
    text = (TERRAFORM / "modules" / "data" / "bootstrap.tf").read_text()
    assert '{ name = "PGSSLMODE", value = "verify-full" }' in text
    assert '{ name = "RDS_CA_BUNDLE_URL", value = local.rds_ca_bundle_url }' in text
    assert 'containerPath = "/tmp"' in text, "the bundle is fetched into a writable /tmp (read-only root)"


# --- 8. unsuppress reaches the SES account list ---------------------------------------------------------------------


def test_account_level_suppression_and_the_sync_are_one_switch():
    """With the configuration set on SES's account-level list, an address unsuppressed in the mail API must also
    leave that list, or SES keeps dropping mail to it. One variable turns both on (default) or both off."""
    variable = _variable("ses_account_suppression")
    assert variable["default"] is True, "default: account-level suppression with the sync on"
    config_set = _resource("aws_sesv2_configuration_set", "this", TERRAFORM / "modules" / "ses")
    reasons = expr(config_set["suppression_options"][0]["suppressed_reasons"])
    assert reasons.replace(" ", "") == 'var.account_suppression?["BOUNCE","COMPLAINT"]:[]', reasons
    assert expr(_module("ses")["account_suppression"]) == "var.ses_account_suppression"
    assert re.search(r"ses_account_suppression\s+= tostring\(var.ses_account_suppression\)", (TERRAFORM / "ecs.tf").read_text())
    mail, _ = raw_container_env("mail")
    suppressor, _ = raw_container_env("ses-suppressor")
    assert mail.get("SES_ACCOUNT_SUPPRESSION_SYNC") == "${ses_account_suppression}"
    assert suppressor.get("SES_ACCOUNT_SUPPRESSION") == "${ses_account_suppression}"
    assert suppressor.get("SNS_TOPIC_ALLOWLIST") == "${ses_feedback_topic_arns}"


# --- 8. README: the first deploy works with the deployment circuit breaker on ----------------------------------


def _readme_deploy_commands() -> list[str]:
    text = (TERRAFORM / "README.md").read_text()
    section = text[text.index("## Deploy, step by step") :]
    section = section[: section.index("\n## ", 5)]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        commands += [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    return commands


def _addresses():
    found = set()
    for path in sorted(TERRAFORM.glob("*.tf")):
        parsed = parse_tf(path)
        for entry in parsed.get("resource", []):
            for rtype, named in entry.items():
                found |= {f"{unquote(rtype)}.{unquote(n)}" for n in named}
        for entry in parsed.get("module", []):
            found |= {f"module.{unquote(n)}" for n in entry}
    return found


def test_first_deploy_creates_the_services_after_their_prerequisites():
    """ECS's deployment circuit breaker fails (and stops) a first deployment whose tasks cannot start: without
    images, database roles or the JWT signing keys they cannot. So the README builds those first, then applies the
    rest once."""
    commands = _readme_deploy_commands()
    full_apply = [i for i, c in enumerate(commands) if c.startswith("terraform apply") and "-target" not in c]
    assert full_apply, "the README must end the first deploy with a plain `terraform apply`"
    first_full = full_apply[0]

    def first(pattern):
        hits = [i for i, c in enumerate(commands) if re.search(pattern, c)]
        assert hits, f"README deploy steps: nothing matches {pattern!r}"
        return hits[0]

    for what, pattern in [
        ("the images are pushed", r"docker buildx build .*--push"),
        ("the database roles exist", r"db_bootstrap_command"),
        ("the JWT signing keys are stored", r"secretsmanager put-secret-value"),
    ]:
        assert first(pattern) < first_full, f"the services are created before {what}"

    targets = [t for c in commands[:first_full] for t in re.findall(r"-target=(\S+)", c)]
    known = _addresses()
    unknown = sorted(t for t in targets if t not in known)
    assert not unknown, f"README targets {unknown}, which terraform/ does not define"
    assert not any(t.startswith(("module.ecs_service", "module.alb")) for t in targets), "no service before the end"

    # What the bootstrap and the key steps read from outputs must exist after the targeted applies.
    outputs = TERRAFORM / "outputs.tf"
    applied = set(targets)
    for t in list(applied):
        if t.startswith("module."):
            applied |= set(re.findall(r"(module\.[a-z_]+|aws_[a-z0-9_]+\.[a-z_]+)", json.dumps(_module(t[7:]))))
    for name in ("db_bootstrap_command", "jwt_signing_keys_secret_arn"):
        refs = set(re.findall(r"(module\.[a-z_]+|aws_[a-z0-9_]+\.[a-z_]+)", json.dumps(_output(name, outputs)["value"])))
        missing = sorted(refs - applied)
        assert not missing, f"output {name} needs {missing}, which the targeted applies before it do not create"


# --- 7. docker-compose: start order, SES like `make up`, identity's key ----------------------------------------------


def _healthcheck_enabled(name: str) -> bool:
    service = compose()["services"][name]
    hc = service.get("healthcheck")
    if hc is not None:
        return not hc.get("disable", False) and bool(hc.get("test"))
    # Our images carry a HEALTHCHECK (the binary's healthcheck subcommand).
    return "build" in service and "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()


def test_compose_waits_for_healthy_dependencies():
    services = compose()["services"]
    for name in ("postgres", "redis", "moto", "localstack"):
        assert _healthcheck_enabled(name), f"docker-compose.yml: {name} needs a healthcheck"
    provision = services["provision"]["depends_on"]
    assert provision["moto"]["condition"] == "service_healthy", "provision must wait until the emulator answers"
    assert provision["localstack"] == {"condition": "service_healthy", "required": False}
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if spec.get("condition") == "service_healthy":
                assert _healthcheck_enabled(dep), f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
    for name in ("identity", "tasks", "mail", "mailer", "ses-suppressor", "event-archive"):
        deps = services[name]["depends_on"]
        assert deps["provision"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name


def _stack_sh_value(name):
    found = re.search(rf'^{name}="(?:\$\{{{name}:-)?([^"}}]+)\}}?"', (ROOT / "scripts" / "stack.sh").read_text(), re.M)
    assert found, f"scripts/stack.sh sets no {name}"
    return found.group(1)


def test_compose_localstack_is_what_the_host_mode_run_proves():
    """`make test-localstack` proves one LocalStack: the version in requirements-localstack.txt, started with
    scripts/stack.sh's LOCALSTACK_SERVICES and called ready by scripts/localstack-ready.py. The compose profile runs
    that version with those services, the same readiness check, on the host port `make up EMULATOR=localstack` uses;
    the mailer can be switched to the SES v1 API that LocalStack's SES has."""
    service = compose()["services"]["localstack"]
    version = re.search(
        r"^localstack-core\[runtime\]==(\S+)$", (ROOT / "requirements-localstack.txt").read_text(), re.M
    ).group(1)
    assert service["image"] == f"localstack/localstack:{version}"
    services = _stack_sh_value("LOCALSTACK_SERVICES")
    assert service["environment"]["SERVICES"] == services
    assert service["healthcheck"]["test"] == [
        "CMD", "python3", "/scripts/localstack-ready.py", "http://127.0.0.1:4566", services
    ]
    assert "./scripts:/scripts:ro" in service["volumes"]
    assert '"$ROOT/scripts/localstack-ready.py"' in (ROOT / "scripts" / "stack.sh").read_text()
    assert service["ports"] == [f"127.0.0.1:{_stack_sh_value('LOCALSTACK_PORT')}:4566"]
    assert compose_env("mailer")["SES_API"] == "${COMPOSE_SES_API:-v2}"
    assert "COMPOSE_SES_API=v1" in (ROOT / "docker-compose.yml").read_text().split("\nname:")[0]


def test_compose_sets_up_ses_like_make_up():
    """The mailer can only send from a verified identity, and bounces reach the suppressor only through the
    identity's feedback topic: compose runs the script `make up` runs, for the domain the mailer sends from."""
    services = compose()["services"]
    setup = services["ses-setup"]
    assert setup["entrypoint"][-1] == "/scripts/ses-local.py" and "./scripts:/scripts:ro" in setup["volumes"]
    domain, topic = setup["command"]
    sender = compose_env("mailer")["SES_FROM_ADDRESS"]
    assert sender.rsplit("@", 1)[1] == domain, f"the mailer sends from {sender}, ses-setup verifies {domain}"
    assert topic.endswith("-ses-feedback"), topic
    assert compose_env("ses-suppressor")["SNS_TOPIC_ALLOWLIST"] == topic
    assert services["mailer"]["depends_on"]["ses-setup"]["condition"] == "service_completed_successfully"
    assert setup["depends_on"]["provision"]["condition"] == "service_completed_successfully"
    assert '"$ROOT/scripts/ses-local.py"' in (ROOT / "scripts" / "stack.sh").read_text(), "make up runs the same script"
    assert (ROOT / "scripts" / "ses-local.py").is_file()


def test_compose_gives_identity_a_signing_key():
    """identity stops at start without JWT_SIGNING_KEYS (restart: unless-stopped would loop): an init step writes
    one into a volume that identity reads through JWT_SIGNING_KEYS_FILE."""
    services = compose()["services"]
    init = services["jwt-keys"]
    assert init["image"] == services["identity"]["image"]
    command = init["command"]
    assert command[:2] == ["gen-key", "--out"]
    key_file = PurePosixPath(command[2])
    env = compose_env("identity")
    assert env["JWT_SIGNING_KEYS_FILE"] == str(key_file)
    volume = next(v.split(":")[0] for v in init["volumes"] if v.split(":")[1] == str(key_file.parent))
    assert f"{volume}:{key_file.parent}:ro" in services["identity"]["volumes"]
    assert volume in compose()["volumes"]
    assert services["identity"]["depends_on"]["jwt-keys"]["condition"] == "service_completed_successfully"
    assert init.get("restart") == "no"


def test_every_tf_file_still_parses_after_these_rules():
    assert tf_files()
