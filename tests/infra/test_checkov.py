"""checkov over terraform/: zero failed checks; every skip is inline (#checkov:skip=ID:reason) with a reason.

checkov runs once per session (about 15 s). It lives in its own venv, .venv/checkov (see
tests/infra/requirements-checkov.txt for why); CHECKOV_BIN overrides the path.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from _infra import ROOT, TERRAFORM, tf_files

INSTALL = "python3 -m venv .venv/checkov && .venv/checkov/bin/pip install -r tests/infra/requirements-checkov.txt"
SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def checkov_bin() -> str:
    candidates = [os.environ.get("CHECKOV_BIN"), str(ROOT / ".venv" / "checkov" / "bin" / "checkov"), shutil.which("checkov")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    pytest.fail(f"checkov is not installed; install it with:\n  {INSTALL}\n(or set CHECKOV_BIN)")


@pytest.fixture(scope="session")
def checkov_report(tmp_path_factory):
    binary = checkov_bin()
    home = tmp_path_factory.mktemp("checkov-home")
    env = {**os.environ, "HOME": str(home), "BC_SKIP_MAPPING": "TRUE", "CHECKOV_EXPERIMENTAL_TERRAFORM_MANAGED_MODULES": "FALSE"}
    env.pop("BC_API_KEY", None)
    proc = subprocess.run(
        [binary, "-d", "terraform", "--framework", "terraform", "--quiet", "--compact", "--skip-download", "-o", "json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode in (0, 1), f"checkov crashed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON report:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    reports = report if isinstance(report, list) else [report]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    assert terraform, f"checkov did not scan terraform: {proc.stdout[:500]}"
    return terraform[0]


def test_checkov_scanned_the_modules(checkov_report):
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, summary
    assert summary["resource_count"] >= 100, f"checkov saw only {summary['resource_count']} resources: {summary}"
    assert summary["passed"] > 0


def test_checkov_has_no_failed_checks(checkov_report):
    failed = checkov_report["results"].get("failed_checks", [])
    lines = [f"{f['check_id']} {f['resource']} ({f['file_path']}:{f['file_line_range'][0]}): {f['check_name']}" for f in failed]
    assert not failed, f"{len(failed)} failed checkov checks (fix them, or skip inline with a reason):\n" + "\n".join(lines)


def test_every_skip_is_inline_with_a_reason():
    bad = []
    for path in tf_files():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = SKIP.search(line)
            if m and len((m.group(2) or "").strip()) < 15:
                bad.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not bad, "checkov skips need a reason (#checkov:skip=CKV_X:why):\n" + "\n".join(bad)


def test_no_skips_outside_the_code():
    for config in [ROOT / ".checkov.yaml", ROOT / ".checkov.yml", TERRAFORM / ".checkov.yaml", TERRAFORM / ".checkov.yml"]:
        assert not config.exists(), f"{config.relative_to(ROOT)}: skips belong inline in the .tf files"
