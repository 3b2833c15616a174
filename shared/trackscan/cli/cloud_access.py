"""Fail fast, in one line with the fix, when a cloud-facing command cannot reach what it needs."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import click

# The services a command may need, with the variable that points a client at an emulator.
EMULATORS = {
    "firestore": "FIRESTORE_EMULATOR_HOST",
    "pubsub": "PUBSUB_EMULATOR_HOST",
    "storage": "STORAGE_EMULATOR_HOST",
}
CONNECT_TIMEOUT_S = 1.0


def require_cloud(services: tuple[str, ...], environ: Mapping[str, str] | None = None) -> None:
    """Checks, before any client is built, that each service is reachable or credentials exist.

    Raises:
        click.ClickException: an emulator does not answer, or no credentials or project are set.
    """
    environ = os.environ if environ is None else environ
    emulated = [name for name in services if environ.get(EMULATORS[name])]
    for name in emulated:
        _require_answer(name, environ[EMULATORS[name]])
    if len(emulated) < len(services):
        _require_credentials(environ)


def _require_answer(name: str, address: str) -> None:
    host, _, port = address.removeprefix("http://").removeprefix("https://").rstrip("/").rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=CONNECT_TIMEOUT_S):
            return
    except (OSError, ValueError):
        variable = EMULATORS[name]
        raise click.ClickException(
            f"the {name} emulator at {address} does not answer: start the dev stack (`trackscan dev up`) "
            f"and load its .dev.env, or unset {variable} to use Google Cloud (a stale .dev.env?)"
        ) from None


def _require_credentials(environ: Mapping[str, str]) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        _, project = google.auth.default()
    except DefaultCredentialsError:
        raise click.ClickException(
            "no Google credentials: run `gcloud auth application-default login` or set "
            "GOOGLE_APPLICATION_CREDENTIALS; for the dev stack, load .dev.env first (set -a; . ./.dev.env; set +a)"
        ) from None
    if not (environ.get("GOOGLE_CLOUD_PROJECT") or project):
        raise click.ClickException("no Google Cloud project: set GOOGLE_CLOUD_PROJECT")
