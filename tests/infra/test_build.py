"""How the binaries are linked, against where they run: every binary packs its relative relocations (RELR, `.cargo/
config.toml`), which GNU ld >= 2.38 writes and only glibc >= 2.36 loads. The image builds on Debian bookworm
(binutils 2.40) and runs on distroless cc-debian12 (glibc 2.36); an older runtime base would refuse to start every
binary ("version `GLIBC_ABI_DT_RELR' not found"), so the two ends are checked together."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from _infra import ROOT

RELR_FLAG = "link-arg=-Wl,-z,pack-relative-relocs"


def _dockerfile_stages() -> list[str]:
    return re.findall(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M)


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
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "debug" / "identity"
    assert binary.exists(), f"{binary}: build the workspace first (make test does, before these checks)"
    dynamic = subprocess.run(["readelf", "--dynamic", "--version-info", str(binary)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"\(RELR\)", dynamic), "identity has no DT_RELR entry: the link flag did not apply"
    assert "GLIBC_ABI_DT_RELR" in dynamic
