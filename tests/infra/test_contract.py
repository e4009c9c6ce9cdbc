"""The environment contract, both ways: env-contract.json (every variable each binary reads, generated from the code
and kept current by the Rust test `contract::env_contract_json_is_what_the_code_reads`) against what the ECS task
definitions, terraform, docker-compose.yml and `make up` set.

- nothing is set that the binary does not read (a typo or a renamed variable is a silent misconfiguration);
- every required variable is set (else the binary stops at start, in AWS after a deploy);
- in ECS secrets come only from `secrets` (Secrets Manager), everything else only from `environment`;
- each binary's database schema is the one its code defaults to.
"""

import re

import pytest

from _infra import (
    REGENERATE,
    ROOT,
    TASKDEFS,
    compose,
    compose_env,
    env_contract,
    expr,
    raw_container_env,
    render,
    unquote,
)

BINARIES = sorted(p.stem for p in TASKDEFS.glob("*.json"))
# In ECS the task role provides credentials and the SDK its default endpoints: setting these would be wrong.
NOT_IN_ECS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"}
# docker-compose services that run one of the binaries.
COMPOSE_BINARIES = {"identity", "tasks", "mail", "mailer", "ses-suppressor", "event-archive"}


def hint(binary: str) -> str:
    return f"(env-contract.json lists what {binary} reads; if the code changed, regenerate it: {REGENERATE})"


def test_the_contract_covers_every_binary(binary_dirs, tf_binaries):
    assert set(env_contract()) == set(binary_dirs) == set(tf_binaries) == set(BINARIES), (
        f"contract {sorted(env_contract())}, directories {sorted(binary_dirs)}, terraform {sorted(tf_binaries)}, "
        f"task definitions {BINARIES} must name the same binaries"
    )


def test_the_contract_is_well_formed():
    for binary, variables in env_contract().items():
        assert variables, binary
        for name, v in variables.items():
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"{binary}: {name}"
            assert not (v["required"] and v["default"] is not None), f"{binary}: {name} is required with a default"
            assert v["doc"], f"{binary}: {name} has no description"
            if v["file_variant"]:
                assert v["secret"] and v["file_variant"] == f"{name}_FILE", f"{binary}: {name}"
        assert variables["DATABASE_URL"]["secret"] and variables["DATABASE_URL"]["required"], binary


# --- ECS task definitions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("binary", BINARIES)
def test_task_definition_sets_only_what_the_binary_reads(binary):
    contract = env_contract()[binary]
    c = render(binary)["containerDefinitions"][0]
    names = {e["name"] for e in c.get("environment", [])} | {s["name"] for s in c.get("secrets", [])}
    unread = sorted(names - set(contract))
    assert not unread, f"ecs-taskdefs/{binary}.json sets {unread}, which {binary} never reads {hint(binary)}"
    wrong = sorted(names & NOT_IN_ECS)
    assert not wrong, f"ecs-taskdefs/{binary}.json sets {wrong}: in ECS the task role and the SDK's defaults apply"


@pytest.mark.parametrize("binary", BINARIES)
def test_task_definition_sets_every_required_variable(binary):
    c = render(binary)["containerDefinitions"][0]
    names = {e["name"] for e in c.get("environment", [])} | {s["name"] for s in c.get("secrets", [])}
    missing = sorted(n for n, v in env_contract()[binary].items() if v["required"] and n not in names)
    assert not missing, f"ecs-taskdefs/{binary}.json does not set {missing}: {binary} would exit at start {hint(binary)}"


@pytest.mark.parametrize("binary", BINARIES)
def test_secrets_only_as_secrets(binary):
    contract = env_contract()[binary]
    env, secrets = raw_container_env(binary)
    plain = sorted(n for n in env if contract.get(n, {}).get("secret"))
    assert not plain, f"ecs-taskdefs/{binary}.json: {plain} are secrets; inject them with `secrets` (valueFrom)"
    not_secret = sorted(n for n in secrets if n in contract and not contract[n]["secret"])
    assert not not_secret, f"ecs-taskdefs/{binary}.json: {not_secret} are not secrets; put them in `environment`"


# --- terraform ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("binary", BINARIES)
def test_database_schema_is_the_one_the_code_uses(binary, tf_binaries):
    """mailer and ses-suppressor share the mail service's schema: the code says so (WorkerSpec.schema); terraform's
    role, secret and DATABASE_SCHEMA must follow, or the suppressor's list is never read by the mailer."""
    default = env_contract()[binary]["DATABASE_SCHEMA"]["default"]
    assert tf_binaries[binary]["schema"] == default, (
        f"terraform local.binaries.{binary}.schema = {tf_binaries[binary]['schema']!r}, but {binary} uses {default!r}"
    )
    env, secrets = raw_container_env(binary)
    assert env.get("DATABASE_SCHEMA") == "${database_schema}", f"{binary}: DATABASE_SCHEMA must be ${{database_schema}}"
    assert secrets["DATABASE_URL"].startswith("${database_url_secret_arn}"), binary


def test_database_roles_and_secrets_are_per_schema(tf_locals):
    from _infra import TERRAFORM, blocks

    assert "b.schema" in expr(tf_locals["database_roles"]) and "local.binaries" in expr(tf_locals["database_roles"])
    data = [body for _, (n,), body in blocks("module", TERRAFORM, recursive=False) if n == "data"][0]
    assert expr(data["database_roles"]) == "local.database_roles"
    ecs = (TERRAFORM / "ecs.tf").read_text()
    assert "module.data.database_url_secret_arns[b.schema]" in ecs, "a binary's DATABASE_URL is its schema's role's"


# --- docker-compose.yml and make up -------------------------------------------------------------------------------


def test_compose_runs_every_binary():
    services = compose()["services"]
    assert COMPOSE_BINARIES <= set(services) and COMPOSE_BINARIES == set(env_contract())


@pytest.mark.parametrize("binary", sorted(COMPOSE_BINARIES))
def test_compose_sets_only_what_the_binary_reads(binary):
    contract = env_contract()[binary]
    accepted = set(contract) | {v["file_variant"] for v in contract.values() if v["file_variant"]}
    unread = sorted(set(compose_env(binary)) - accepted)
    assert not unread, f"docker-compose.yml: {binary} sets {unread}, which it never reads {hint(binary)}"


@pytest.mark.parametrize("binary", sorted(COMPOSE_BINARIES))
def test_compose_sets_every_required_variable(binary):
    env = compose_env(binary)
    missing = sorted(
        n for n, v in env_contract()[binary].items()
        if v["required"] and n not in env and (v["file_variant"] or "-") not in env
    )
    assert not missing, f"docker-compose.yml: {binary} lacks {missing} {hint(binary)}"
    # "${X:-}" is empty when X is unset: only acceptable with the file variant as the fallback.
    for name, v in env_contract()[binary].items():
        value = env.get(name, "")
        if v["required"] and re.fullmatch(r"\$\{[A-Z_]+:-\}", value):
            assert v["file_variant"] and env.get(v["file_variant"]), (
                f"docker-compose.yml: {binary}'s {name} is empty unless the user exports it, and no "
                f"{v['file_variant']} backs it: the binary would stop at start"
            )


@pytest.mark.parametrize("binary", sorted(COMPOSE_BINARIES))
def test_compose_database_schema_is_the_one_the_code_uses(binary):
    default = env_contract()[binary]["DATABASE_SCHEMA"]["default"]
    assert compose_env(binary).get("DATABASE_SCHEMA", default) == default, binary


def test_make_up_database_schemas_are_the_ones_the_code_uses():
    text = (ROOT / "scripts" / "stack.sh").read_text()
    started = dict(re.findall(r"start_bin ([a-z-]+) \S+ .*?DATABASE_SCHEMA=([a-z_]+)", text))
    assert set(started) == COMPOSE_BINARIES, f"scripts/stack.sh starts {sorted(started)}"
    for binary, schema in started.items():
        assert schema == env_contract()[binary]["DATABASE_SCHEMA"]["default"], f"scripts/stack.sh: {binary}"
