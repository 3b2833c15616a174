"""`terraform fmt -check`: formatting needs no provider, so it runs offline."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.infra.conftest import REPO_ROOT

TERRAFORM = shutil.which("terraform")


@pytest.mark.skipif(TERRAFORM is None, reason="terraform CLI not on PATH (Cloud Build runs fmt itself)")
@pytest.mark.parametrize("directory", ["terraform", "tests/infra/fixtures"])
def test_terraform_files_are_formatted(directory: str) -> None:
    completed = subprocess.run(
        [TERRAFORM, "fmt", "-check", "-recursive", "-diff", directory],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, f"run `terraform fmt -recursive {directory}`:\n{completed.stdout}"
