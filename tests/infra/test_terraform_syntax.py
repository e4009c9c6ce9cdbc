"""terraform fmt and HCL parsing of every .tf file (no providers, no init: this machine cannot download them)."""

import os
import shutil
import subprocess

import pytest

from _infra import ROOT, TERRAFORM, parse_tf, tf_files


def test_terraform_fmt_check(tmp_path):
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH: `terraform fmt -check` not run (install Terraform >= 1.6 to enable it)")
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text("")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config), "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "terraform/"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"terraform fmt -check failed; run `terraform fmt -recursive terraform/`:\n{proc.stdout}{proc.stderr}"


def test_there_is_terraform():
    assert len(tf_files()) >= 10, f"expected the root module and its modules under {TERRAFORM}"


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path):
    parsed = parse_tf(path)
    assert isinstance(parsed, dict)
