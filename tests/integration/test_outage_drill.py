"""The operator's outage drill, with the real commands: Pub/Sub down while partners upload.

`trackscan dev up`, `dev stop pubsub`, uploads straight to the bucket with google-cloud-storage,
`dev start pubsub`: every file reaches DONE with no manual step. Pub/Sub stays down for 75 s, so
the dev stack's scheduled inventory sweep has had time to find the uploads; fake GCS keeps
retrying the notifications it could not publish and sometimes delivers them once Pub/Sub is back
(2 of 3 in one run), so the test says which path each upload took and asserts only that none is
lost. The fault suite's row 19 (tests/faults/test_emulator_matrix.py) removes the notification
path for good and shows the sweep alone recovering every upload.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.audio_fixtures import music_like, write_audio
from tests.e2e.conftest import run_cli
from trackscan.dev.provision import environ
from trackscan.domain.track_ids import track_id_for

pytestmark = pytest.mark.integration
DONE_WITHIN_S = 300
PUBSUB_DOWN_S = 75  # past the sweep's 20 s threshold and a few of its 15 s passes


def _env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def _upload(env: dict[str, str], song: Path) -> str:
    import google.cloud.storage as storage

    with environ(env):
        bucket = storage.Client().bucket(env["TRACKSCAN_INGEST_BUCKET"])
        blob = bucket.blob(f"{env['TRACKSCAN_DEV_PARTNER']}/{song.name}")
        blob.upload_from_filename(str(song))
    return track_id_for(f"gs://{env['TRACKSCAN_INGEST_BUCKET']}/{blob.name}", str(blob.generation))


def _states(env: dict[str, str], track_ids: list[str]) -> dict[str, str | None]:
    import google.cloud.firestore as firestore

    from trackscan.adapters.firestore_store import FirestoreTrackStore

    with environ(env):
        store = FirestoreTrackStore(firestore.Client(project=env["GOOGLE_CLOUD_PROJECT"]), "tracks")
        return {t: (r.state.value if (r := store.get(t)) else None) for t in track_ids}


def _swept(reconcile_log: Path) -> set[str]:
    """Track ids the inventory sweep sent to ingest, per the reconcile function's JSON log lines."""
    lines = [line for line in reconcile_log.read_text().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    return {e["track_id"] for e in entries if e.get("message") == "unannounced upload sent to ingest"}


def test_uploads_made_while_pubsub_was_down_reach_done_with_no_manual_step(
    emulator_tools: None, triton_skip_reason: str, tmp_path: Path
):
    if triton_skip_reason:
        pytest.skip(triton_skip_reason)
    home, env_file = tmp_path / "home", tmp_path / ".dev.env"
    up = run_cli(["dev", "up", "--free-ports", "--env-file", str(env_file)], home, timeout_s=300)
    assert up.returncode == 0, up.stderr[-2000:]
    try:
        env = _env_file(env_file)
        assert run_cli(["dev", "stop", "pubsub"], home).returncode == 0
        songs = [write_audio(tmp_path / f"drill-{i}.ogg", music_like(4.0 + i)) for i in range(3)]
        track_ids = [_upload(env, song) for song in songs]
        time.sleep(PUBSUB_DOWN_S)
        started = run_cli(["dev", "start", "pubsub"], home)
        assert started.returncode == 0, started.stderr
        deadline, states = time.monotonic() + DONE_WITHIN_S, {}
        while time.monotonic() < deadline:
            states = _states(env, track_ids)
            if all(state == "DONE" for state in states.values()):
                break
            time.sleep(5)
        assert all(state == "DONE" for state in states.values()), states
        swept = _swept(home / "dev" / "logs" / "reconcile.log") & set(track_ids)
        print(
            f"outage drill: {len(swept)} of {len(track_ids)} uploads sent to ingest by the sweep, "
            f"the rest by a notification fake GCS delivered late"
        )
    finally:
        down = run_cli(["dev", "down", "--env-file", str(env_file)], home)
    assert down.returncode == 0 and not env_file.exists()
