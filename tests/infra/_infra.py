"""Shared fixtures of the infrastructure checks: repository paths, parsed terraform, topology, binaries."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
TASKDEFS = ROOT / "ecs-taskdefs"
BINARY_PARENTS = ("services", "workers")


def unquote(value):
    """python-hcl2 keeps the quotes of string literals ("\"service\"") and wraps expressions in ${...}."""
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def expr(value) -> str:
    """An HCL expression as python-hcl2 prints it, without the ${...} wrapper."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return str(value)


def tf_files() -> list[Path]:
    return sorted(p for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts)


@lru_cache(maxsize=None)
def parse_tf(path: Path) -> dict:
    import hcl2

    with path.open() as f:
        return hcl2.load(f)


def blocks(kind: str, directory: Path = TERRAFORM, recursive: bool = True):
    """Yield (path, labels, body) of every `resource`/`data`/`module` block under directory."""
    paths = tf_files() if recursive else sorted(directory.glob("*.tf"))
    for path in paths:
        if not path.is_relative_to(directory):
            continue
        for entry in parse_tf(path).get(kind, []):
            if kind in ("resource", "data"):
                for rtype, named in entry.items():
                    for name, body in named.items():
                        yield path, (unquote(rtype), unquote(name)), body
            else:
                for name, body in entry.items():
                    yield path, (unquote(name),), body


def root_locals() -> dict:
    merged: dict = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        for entry in parse_tf(path).get("locals", []):
            merged.update({k: v for k, v in entry.items() if not k.startswith("__")})
    return merged


@pytest.fixture(scope="session")
def topology() -> dict:
    return json.loads((ROOT / "topology.json").read_text())


@pytest.fixture(scope="session")
def tf_locals() -> dict:
    return root_locals()


@pytest.fixture(scope="session")
def tf_binaries(tf_locals) -> dict:
    """local.binaries of the root module: bin => {kind, dir, schema, ...} (unquoted)."""
    raw = tf_locals["binaries"]
    return {
        unquote(name): {k: unquote(v) for k, v in body.items() if not k.startswith("__")}
        for name, body in raw.items()
    }


def discover_binary_dirs() -> dict[str, Path]:
    """services/*/ and workers/*/ that hold an aws-actions.json or a Cargo.toml."""
    found = {}
    for parent in BINARY_PARENTS:
        base = ROOT / parent
        if not base.is_dir():
            continue
        for d in sorted(base.iterdir()):
            if d.is_dir() and ((d / "aws-actions.json").is_file() or (d / "Cargo.toml").is_file()):
                found[d.name] = d
    return found


@pytest.fixture(scope="session")
def binary_dirs() -> dict[str, Path]:
    dirs = discover_binary_dirs()
    assert dirs, "no binary directory found under services/ or workers/"
    return dirs


def load_aws_actions(directory: Path) -> dict:
    return json.loads((directory / "aws-actions.json").read_text())


PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# --- ecs-taskdefs/*.json rendered like terraform's templatefile() ----------------------------------------------------


def taskdef_var_names() -> set[str]:
    """Keys of local.taskdef_vars in terraform/ecs.tf: the only names a template may use."""
    text = (TERRAFORM / "ecs.tf").read_text()
    start = text.index("taskdef_vars = {")
    depth, names = 0, set()
    for line in text[start:].splitlines():
        depth += line.count("{") - line.count("}")
        m = re.match(r"\s+([a-z_]+)\s+=\s", line)
        if m and depth == 2:
            names.add(m.group(1))
        if depth == 0:
            break
    assert names, "could not read local.taskdef_vars from terraform/ecs.tf"
    return names


def dummy_vars(binary: str) -> dict[str, str]:
    arn = "arn:aws:{svc}:eu-west-1:123456789012:{res}"
    values = {name: f"dummy-{name}" for name in taskdef_var_names()}
    values.update(
        family=f"test-{binary}",
        image=f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/test/{binary}:abc123",
        execution_role_arn=arn.format(svc="iam", res=f"role/test-{binary}-exec").replace("eu-west-1", ""),
        task_role_arn=arn.format(svc="iam", res=f"role/test-{binary}-task").replace("eu-west-1", ""),
        cpu="256",
        memory="512",
        cpu_architecture="X86_64",
        log_group=f"/switchyard/test/{binary}",
        aws_region="eu-west-1",
        rust_log="info",
        database_url_secret_arn=arn.format(svc="secretsmanager", res="secret:switchyard/test/db/role/DATABASE_URL-AbCdEf"),
        redis_url_secret_arn=arn.format(svc="secretsmanager", res="secret:switchyard/test/REDIS_URL-AbCdEf"),
        jwt_signing_keys_secret_arn=arn.format(svc="secretsmanager", res="secret:switchyard/test/identity/JWT_SIGNING_KEYS-AbCdEf"),
        service_clients_secret_arn=arn.format(svc="secretsmanager", res="secret:switchyard/test/identity/SERVICE_CLIENTS-AbCdEf"),
        identity_client_id=binary,
        identity_client_secret_arn=arn.format(svc="secretsmanager", res=f"secret:switchyard/test/{binary}/IDENTITY_CLIENT_SECRET-AbCdEf"),
        topic_arn=arn.format(svc="sns", res="test-topic"),
        queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/test-queue",
        ses_feedback_topic_arns=arn.format(svc="sns", res="test-feedback"),
        ses_account_suppression="true",
        trusted_proxy_hops="1",
    )
    return values


def render(binary: str) -> dict:
    """templatefile(): ${name} is replaced; $${ and %{ would be template syntax and are refused."""
    text = (TASKDEFS / f"{binary}.json").read_text()
    assert "%{" not in text and "$${" not in text, f"{binary}.json: template directives/escapes are not expected"
    values = dummy_vars(binary)
    unknown = set(PLACEHOLDER.findall(text)) - set(values)
    assert not unknown, f"{binary}.json uses {sorted(unknown)}, which terraform's local.taskdef_vars does not provide"
    rendered = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    assert "${" not in rendered, f"{binary}.json: malformed placeholder"
    return json.loads(rendered)


def raw_container_env(binary: str) -> tuple[dict[str, str], dict[str, str]]:
    """(environment name => value, secrets name => valueFrom) of the unrendered task definition."""
    c = json.loads((TASKDEFS / f"{binary}.json").read_text())["containerDefinitions"][0]
    return {e["name"]: e["value"] for e in c.get("environment", [])}, {s["name"]: s["valueFrom"] for s in c.get("secrets", [])}


# --- env-contract.json: what each binary reads, generated from the code ------------------------------------------

ENV_CONTRACT = ROOT / "env-contract.json"
REGENERATE = "UPDATE_ENV_CONTRACT=1 cargo test -p switchyard-tests --test e2e contract::"


@lru_cache(maxsize=None)
def env_contract() -> dict[str, dict[str, dict]]:
    """binary => variable name => {required, secret, default, file_variant, library, doc}."""
    assert ENV_CONTRACT.is_file(), f"env-contract.json is missing; generate it with {REGENERATE}"
    doc = json.loads(ENV_CONTRACT.read_text())
    return {
        binary: {v["name"]: v for v in body["variables"]}
        for binary, body in doc["binaries"].items()
    }


# --- docker-compose.yml ---------------------------------------------------------------------------------------------

COMPOSE = ROOT / "docker-compose.yml"


@lru_cache(maxsize=None)
def compose() -> dict:
    """docker-compose.yml with YAML anchors and merge keys resolved (as compose resolves them)."""
    import yaml

    return yaml.safe_load(COMPOSE.read_text())


def compose_env(service: str) -> dict[str, str]:
    env = compose()["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items() if not k.startswith("<<")}
