"""``trackscan dev``: start and stop the local cloud stack, and upload a file into it."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import click

from trackscan.cli.cloud_access import require_cloud
from trackscan.dev import processes
from trackscan.dev.drills import DrillError, start_component, stop_component
from trackscan.dev.layout import DEV_PARTNER, DevPorts
from trackscan.dev.stack import (
    ENV_FILE_HEADER,
    REPO_ROOT,
    DevStack,
    DevStackError,
    DevStackUnavailable,
    recorded_env,
    stop_recorded,
)
from trackscan.domain.config import Config
from trackscan.pipeline.steps import CLOUD_RUN_LANE, INGEST, LANES, WORKERS_LANE, step_named

FUNCTIONS_SOURCE = REPO_ROOT / "functions" / "main.py"
# The dev stack's stand-in for the every-minute Cloud Scheduler job: faster, for a quick loop.
SCHEDULER_EVERY_S = 15.0
INSTALL_TRITON = REPO_ROOT / "scripts" / "install_triton_venv.sh"
DEFAULT_ENV_FILE = Path(".dev.env")


def _state_dir() -> Path:
    return Path(Config.from_env().home_dir) / "dev"


@click.group()
def dev() -> None:
    """The cloud adapters against local servers: emulators, fake GCS, Triton, the functions."""


@dev.command()
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_ENV_FILE,
    show_default=True,
    help="Where to write the variables that point clients at the stack.",
)
@click.option("--free-ports", is_flag=True, help="Let the kernel pick free ports instead of the defaults.")
@click.option("--no-triton", is_flag=True, help="Do not start the local Triton server.")
@click.option("--no-functions", is_flag=True, help="Start the servers only, not functions/main.py.")
@click.option(
    "--lane",
    type=click.Choice(LANES),
    default=CLOUD_RUN_LANE,
    show_default=True,
    help="workers: the steps as pull workers tagging whole tracks with the model in process (no Triton).",
)
def up(env_file: Path, free_ports: bool, no_triton: bool, no_functions: bool, lane: str) -> None:
    """Start the dev stack on 127.0.0.1 and leave it running (stop it with `trackscan dev down`)."""
    no_triton = no_triton or lane == WORKERS_LANE  # the workers run the model themselves
    if not no_triton and subprocess.run([str(INSTALL_TRITON)]).returncode != 0:
        # The script is idempotent and quick once done; the first time it installs PyTriton (~1 min).
        raise click.ClickException(f"{INSTALL_TRITON} failed; start without Triton with --no-triton")
    source = None if no_functions else _functions_source()
    stack = DevStack(
        ports=DevPorts.free() if free_ports else None,
        state_dir=_state_dir(),
        functions_source=source,
        with_triton=not no_triton,
        api_key=_stable_api_key(_state_dir()),
        scheduler_every_s=SCHEDULER_EVERY_S,
        lane=lane,
    )
    click.echo(f"Starting the dev stack (logs in {stack.state_dir / 'logs'}) ...", err=True)
    try:
        stack.start()
    except (DevStackUnavailable, DevStackError) as exc:
        raise click.ClickException(str(exc)) from exc
    stack.write_env_file(env_file)
    click.echo(_summary(stack, env_file))


@dev.command()
@click.argument("name")
def stop(name: str) -> None:
    """Stop one component (pubsub, firestore, storage, triton, a function, scheduler): an outage drill."""
    try:
        stop_component(_state_dir(), name)
    except DrillError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Stopped {name}. Start it again with `trackscan dev start {name}`.")


@dev.command()
@click.argument("name")
def start(name: str) -> None:
    """Start a stopped component again.

    Pub/Sub and fake GCS come back empty: their topics, subscriptions and buckets are created again.
    """
    try:
        seconds = start_component(_state_dir(), name)
    except DrillError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Started {name} ({seconds:.1f} s).")


def _stable_api_key(state_dir: Path) -> str:
    """The dev partner's API key, made once and kept in the state dir so scripts survive a restart."""
    path = state_dir / "api_key"
    if not path.is_file():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def _command(executable: str) -> str:
    """How to run a program of this virtual environment from the current directory (shell-quoted)."""
    path = Path(sys.executable).parent / executable
    try:
        return shlex.quote(str(path.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(path))


def _functions_source() -> Path | None:
    if FUNCTIONS_SOURCE.is_file():
        return FUNCTIONS_SOURCE
    click.echo(f"{FUNCTIONS_SOURCE} does not exist yet: starting the servers without functions.", err=True)
    return None


def _summary(stack: DevStack, env_file: Path) -> str:
    """What `dev up` prints: every command on a line of its own, indented two spaces, as it runs."""
    ready = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stack.ready_s.items())
    trackscan, python = _command("trackscan"), _command("python")
    # `. .dev.env` searches PATH first (and only PATH in sh and zsh): name the folder.
    env = shlex.quote(str(env_file) if env_file.is_absolute() or env_file.parent != Path(".") else f"./{env_file}")
    api_url = stack.env["TRACKSCAN_API_URL"]
    return "\n".join(
        [
            f"Dev stack ready ({ready}).",
            f"Variables written to {env_file}; load them with:",
            f"  set -a; . {env}; set +a",
            "",
            f"Upload a file as partner {DEV_PARTNER} (it lands in gs://{stack.config.ingest_bucket_name}/"
            f"{DEV_PARTNER}/ and fake GCS announces it on {step_named(INGEST).topic(stack.config.topic_prefix)}):",
            f"  {trackscan} dev upload song.ogg",
            "or, with any GCS client once the variables are loaded (this one prints the track id too):",
            f'  {python} -c "import os, sys; import google.cloud.storage as gcs; from trackscan.domain.tracks import '
            "track_id_for; b = gcs.Client().bucket(os.environ['TRACKSCAN_INGEST_BUCKET']).blob("
            "os.environ['TRACKSCAN_DEV_PARTNER'] + '/' + os.path.basename(sys.argv[1])); "
            "b.upload_from_filename(sys.argv[1]); print(track_id_for(f'gs://{b.bucket.name}/{b.name}', "
            'str(b.generation)))" song.ogg',
            f"or through the API at {api_url} with the key in $TRACKSCAN_DEV_API_KEY (kept across restarts).",
            f"Support console: {api_url}/console/ (sign in with $TRACKSCAN_DEV_API_KEY).",
            "Watch a track (with the variables loaded):",
            f"  {trackscan} status --cloud TRACK_ID",
            "The emulators keep their data in memory: `dev down` or a restart starts them empty.",
            f"Logs: {stack.state_dir / 'logs'}",
            "Stop everything:",
            f"  {trackscan} dev down" + ("" if env_file == DEFAULT_ENV_FILE else f" --env-file {env}"),
        ]
    )


@dev.command()
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_ENV_FILE,
    show_default=True,
    help="The variables file `dev up` wrote: removed with the stack.",
)
def down(env_file: Path) -> None:
    """Stop every process `trackscan dev up` started, forget them and remove the env file."""
    stopped = stop_recorded(_state_dir())
    if env_file.is_file() and env_file.read_text().startswith(ENV_FILE_HEADER):
        env_file.unlink()  # stale variables would point clients at servers that are gone
    click.echo(f"Stopped: {', '.join(stopped)}." if stopped else "No dev stack was running.")


@dev.command()
@click.option("--json", "as_json", is_flag=True, help="Print the recorded env and processes as JSON.")
def status(as_json: bool) -> None:
    """Which dev stack processes are running."""
    state = processes.StateFile(_state_dir() / "processes.json")
    children = state.read()
    if as_json:
        rows = [{"name": c.name, "pid": c.pid, "running": processes.is_ours(c)} for c in children]
        click.echo(json.dumps({"processes": rows, "env": dict(recorded_env(_state_dir()))}, indent=2))
        return
    if not children:
        click.echo("No dev stack is running.")
    for child in children:
        state_word = "running" if processes.is_ours(child) else "gone"
        click.echo(f"{child.name:<18} pid {child.pid:<8} {state_word:<8} {child.log_path}")


@dev.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upload(path: Path) -> None:
    """Upload PATH into the ingest bucket as the dev partner; prints the object and track id."""
    env = recorded_env(_state_dir())
    if not env:
        raise click.ClickException("No dev stack is running: start one with `trackscan dev up`.")
    os.environ.update(env)
    require_cloud(("storage",))
    import google.cloud.storage as storage

    from trackscan.domain.track_ids import track_id_for

    bucket_name = env["TRACKSCAN_INGEST_BUCKET"]
    blob = storage.Client().bucket(bucket_name).blob(f"{env['TRACKSCAN_DEV_PARTNER']}/{path.name}")
    blob.upload_from_filename(str(path))
    uri = f"gs://{bucket_name}/{blob.name}"
    track_id = track_id_for(uri, str(blob.generation))
    click.echo(f"Uploaded {uri} (generation {blob.generation}), track {track_id}")
    click.echo(f"Watch it (with the variables loaded): {_command('trackscan')} status --cloud {track_id}")
