"""How the binaries are linked, against where they run: every binary packs its relative relocations (RELR, `.cargo/
config.toml`), which GNU ld >= 2.38 writes and only glibc >= 2.36 loads. The image builds on Debian bookworm
(binutils 2.40) and runs on distroless cc-debian12 (glibc 2.36); an older runtime base would refuse to start every
binary ("version `GLIBC_ABI_DT_RELR' not found"), so the two ends are checked together. Two more build settings
for issue #12's idle RSS are checked where they take effect: jemalloc's compiled-in configuration in the binaries,
and the size-optimised packages of `Cargo.toml` against the lock file."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

from _infra import ROOT

RELR_FLAG = "link-arg=-Wl,-z,pack-relative-relocs"


def _dockerfile_stages() -> list[str]:
    return re.findall(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M)


def _debug_binary(name: str) -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "debug" / name
    assert binary.exists(), f"{binary}: build the workspace first (make test does, before these checks)"
    return binary


def test_the_binaries_are_linked_with_relr():
    config = (ROOT / ".cargo" / "config.toml").read_text()
    section = re.search(r"^\[target\.'cfg\(all\(target_os = \"linux\", target_env = \"gnu\"\)\)'\]\n(.*?)(?:^\[|\Z)", config, re.M | re.S)
    assert section, ".cargo/config.toml: no [target.'cfg(all(target_os = \"linux\", target_env = \"gnu\"))'] table"
    assert RELR_FLAG in section.group(1), section.group(1)


def test_the_image_builds_with_an_ld_and_runs_on_a_glibc_that_know_relr():
    stages = _dockerfile_stages()
    build, runtime = stages[0], stages[-1]
    # bookworm: binutils 2.40; trixie: 2.44. bullseye's 2.35 would ignore the flag, and its image would not run it.
    assert re.search(r"-(bookworm|trixie)$", build.split(" ")[0]), f"build stage {build}: needs binutils >= 2.38"
    assert re.fullmatch(r"gcr\.io/distroless/cc-debian(1[2-9])(:\S+)?", runtime), f"runtime {runtime}: needs glibc >= 2.36"


def test_a_built_binary_carries_relr_and_the_glibc_version_it_needs():
    """The flag reaches the linker (a RUSTFLAGS variable would silently replace the config's rustflags)."""
    binary = _debug_binary("identity")
    dynamic = subprocess.run(["readelf", "--dynamic", "--version-info", str(binary)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"\(RELR\)", dynamic), "identity has no DT_RELR entry: the link flag did not apply"
    assert "GLIBC_ABI_DT_RELR" in dynamic


def test_the_compiled_in_jemalloc_configuration_reaches_the_binaries():
    """`.cargo/config.toml`'s `JEMALLOC_SYS_WITH_MALLOC_CONF` is what jemalloc reads at start (crates/switchyard-alloc):
    a build that did not pick it up (jemalloc built before the variable changed) would run with the defaults."""
    config = tomllib.loads((ROOT / ".cargo" / "config.toml").read_text())
    conf = config["env"]["JEMALLOC_SYS_WITH_MALLOC_CONF"]
    for option in ("background_thread:true", "narenas:1"):
        assert option in conf.split(","), f"{option} missing from JEMALLOC_SYS_WITH_MALLOC_CONF = {conf!r}"
    for name in ("identity", "mailer"):
        assert conf.encode() in _debug_binary(name).read_bytes(), f"{name} does not carry the malloc conf {conf!r}"


def test_every_size_optimised_package_is_in_the_lock_file():
    """Cargo only warns about a `[profile.*.package.<name>]` that matches nothing: a renamed or dropped crate would
    silently go back to the default opt-level."""
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    packages = {p["name"] for p in lock["package"]}
    overrides = manifest["profile"]["release"]["package"]
    assert overrides, "Cargo.toml: no [profile.release.package.*] overrides"
    for name, settings in overrides.items():
        assert name in packages, f"[profile.release.package.{name}]: no such package in Cargo.lock"
        assert settings.get("opt-level") == "s", (name, settings)
    # The per-message path stays optimised for speed (issue #12's worker CPU).
    for hot in ("aws-sdk-sqs", "aws-smithy-runtime", "tokio", "sqlx-core", "hyper"):
        assert hot not in overrides, f"{hot} is on the request or message path: keep it at the profile's opt-level"
