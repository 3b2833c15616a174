"""Cloud-facing commands fail fast, in one line with the fix."""

import click
import pytest

from tests.e2e.conftest import run_cli
from trackscan.cli.cloud_access import require_cloud
from trackscan.dev.layout import free_ports


def test_require_cloud_names_the_emulator_and_the_fix_when_it_does_not_answer():
    address = f"127.0.0.1:{free_ports(1)[0]}"
    with pytest.raises(click.ClickException) as raised:
        require_cloud(("firestore",), {"FIRESTORE_EMULATOR_HOST": address})
    assert f"the firestore emulator at {address} does not answer" in raised.value.message
    assert "trackscan dev up" in raised.value.message and "unset FIRESTORE_EMULATOR_HOST" in raised.value.message


def test_require_cloud_says_how_to_log_in_when_there_are_no_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud application-default credentials
    with pytest.raises(click.ClickException, match="gcloud auth application-default login"):
        require_cloud(("firestore",), {})


def test_status_cloud_fails_in_one_line_when_the_emulator_is_gone(tmp_path):
    shown = run_cli(
        ["status", "--cloud", "tnothing"],
        tmp_path / "home",
        FIRESTORE_EMULATOR_HOST=f"127.0.0.1:{free_ports(1)[0]}",
        STORAGE_EMULATOR_HOST="",
    )
    assert shown.returncode == 1
    assert "Traceback" not in shown.stderr
    assert [line for line in shown.stderr.splitlines() if line.strip()] == [
        line for line in shown.stderr.splitlines() if "does not answer" in line
    ]
