"""The Firestore database Terraform creates for trackscan (module firestore, named after
name_prefix) is the one the services and the CLI open: Terraform sets TRACKSCAN_FIRESTORE_DATABASE
to it, and every Firestore client the code builds uses that setting. The IAM conditions that limit
each grant to that database would otherwise lock the services out."""

from __future__ import annotations

import sys

import pytest

from tests.infra.conftest import REPO_ROOT, TerraformDir, reference


def test_terraform_sets_the_database_its_grants_are_limited_to(dev: TerraformDir) -> None:
    assert reference(dev.locals()["service_env"]["TRACKSCAN_FIRESTORE_DATABASE"]) == "module.firestore.database_name"
    assert reference(dev.module_calls()["firestore"]["database_id"]) == "local.name"


def test_services_and_cli_open_the_configured_database(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(REPO_ROOT / "shared"))
    pytest.importorskip("google.cloud.firestore")
    from trackscan.domain.config import Config
    from trackscan.runtimes.bootstrap import cloud_deps, track_store

    # The emulator variables make the clients anonymous; building them opens no connection.
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    config = Config.from_env({"GOOGLE_CLOUD_PROJECT": "p", "TRACKSCAN_FIRESTORE_DATABASE": "prod"})
    for store in (cloud_deps(config).tracks, track_store(config, cloud=True)):
        assert store._client._database_string == "projects/p/databases/prod"
    assert Config.from_env({}).firestore_database == "(default)", "local and dev runs keep the default database"
