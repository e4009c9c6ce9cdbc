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
