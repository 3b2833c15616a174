"""Real music through the running dev stack: fake GCS announces the upload, the functions run
every step over Pub/Sub push, Triton scores the patches, and the result in Firestore matches the
embedded default (`trackscan run`, onnxruntime in process) on the same file.

One track is uploaded with google-cloud-storage and two are submitted through the API (by
gs:// URI and as an upload body); all three run at once, beside the embedded run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trackscan.dev import DevStack
from trackscan.dev.stack import REPO_ROOT
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackRecord

pytestmark = pytest.mark.integration
MUSIC = "torus-trooper-data/tt1.ogg"  # 60 s of techno: one segment, so CI stays quick
TOLERANCE = 1e-4
DONE_TIMEOUT_S = 240.0
EMBEDDED_TIMEOUT_S = 300.0
TIMELINE = ["RECEIVED", "EXTRACTING", "INFERRING", "DONE"]
API_ATTEMPTS = 4
MAX_RETRY_AFTER_S = 15  # longer waits (the failed sign-in throttle: minutes) fail with the reason


@dataclass(frozen=True)
class EmbeddedRun:
    stdout: Path
    stderr: Path
    process: subprocess.Popen | None = None


@dataclass(frozen=True)
class Submitted:
    """The track ids of the three ways in, and the stack they went into."""

    uploaded: str
    api_uri: str
    api_body: str
    stack: DevStack

    @property
    def all(self) -> list[str]:
        return [self.uploaded, self.api_uri, self.api_body]


@pytest.fixture(scope="module")
def music_file() -> Path:
    done = subprocess.run([str(REPO_ROOT / "scripts" / "fetch_music.sh")], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.skip(f"could not fetch the Debian music packages: {done.stderr.strip()[-300:]}")
    path = Path(done.stdout.strip()) / MUSIC
    if not path.is_file():
        pytest.skip(f"{path} is missing from the fetched music")
    return path


@pytest.fixture(scope="module")
def running_stack(dev_stack: DevStack, triton_skip_reason: str) -> Iterator[DevStack]:
    """The session stack with Triton and every function, its env set for this module's clients."""
    if triton_skip_reason:
        pytest.skip(f"the stack runs without Triton: {triton_skip_reason}")
    if dev_stack.functions_source is None:
        pytest.skip("the stack runs without the functions of functions/main.py")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in dev_stack.env.items():
            patch.setenv(name, value)
        yield dev_stack


@pytest.fixture(scope="module")
def embedded_run(music_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRun]:
    """`trackscan run FILE --json`, started first so it runs beside the cloud pipeline."""
    home = tmp_path_factory.mktemp("embedded")
    stack_vars = ("EMULATOR_HOST", "TRITON_", "TRACKSCAN_")
    env = {k: v for k, v in os.environ.items() if not any(marker in k for marker in stack_vars)}
    # Triton serves the model in fp32: compare like with like. The default bf16 is held to fp32
    # by the gate in tests/e2e/test_model_gate.py, within a tolerance wider than this test's.
    env["TRACKSCAN_MODEL_VARIANT"] = "onnxruntime-fp32"
    run = EmbeddedRun(home / "stdout.jsonl", home / "stderr.log")
    with run.stdout.open("w") as stdout, run.stderr.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "trackscan.cli", "run", str(music_file), "--json"],
            env={**env, "TRACKSCAN_HOME": str(home / ".trackscan")},
            cwd=home,
            stdout=stdout,
            stderr=stderr,
        )
    yield dataclasses.replace(run, process=process)
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def embedded(embedded_run: EmbeddedRun, finished: dict[str, TrackRecord]) -> dict[str, Any]:
    """The embedded run's JSON line of the track (waited for after the cloud tracks)."""
    assert embedded_run.process is not None
    returncode = embedded_run.process.wait(timeout=EMBEDDED_TIMEOUT_S)
    assert returncode == 0, embedded_run.stderr.read_text()[-2000:]
    (line,) = (json.loads(text) for text in embedded_run.stdout.read_text().splitlines() if text.strip())
    assert line["state"] == "DONE", line["error"]
    return line


def _api(
    stack: DevStack, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
) -> dict[str, Any]:
    request = urllib.request.Request(
        stack.env["TRACKSCAN_API_URL"] + path,
        data=body,
        method=method,
        headers={"X-API-Key": stack.api_key, "Content-Type": content_type},
    )
    attempt = 1
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            wait_s = int(exc.headers.get("Retry-After") or 0)
            # A partner's client waits as a 429 or 503 tells it to; a short wait is the API's to ask.
            if exc.code in (429, 503) and 0 < wait_s <= MAX_RETRY_AFTER_S and attempt < API_ATTEMPTS:
                attempt += 1
                time.sleep(wait_s)
                continue
            api_log = stack.state_dir / "logs" / "api.log"
            tail = api_log.read_text()[-3000:] if api_log.is_file() else "(no api.log)"
            answer = exc.read().decode(errors="replace")
            raise AssertionError(f"{method} {path}: {exc.code} {answer}\nthe API's log ends:\n{tail}") from exc


@pytest.fixture(scope="module")
def submitted(running_stack: DevStack, embedded_run: EmbeddedRun, music_file: Path) -> Submitted:
    from google.cloud import storage

    config, partner = running_stack.config, running_stack.env["TRACKSCAN_DEV_PARTNER"]
    bucket = storage.Client().bucket(config.ingest_bucket_name)
    run_id = uuid.uuid4().hex[:8]
    uploaded = bucket.blob(f"{partner}/e2e-{run_id}-gcs.ogg")
    uploaded.upload_from_filename(str(music_file))
    by_uri = bucket.blob(f"{partner}/e2e-{run_id}-uri.ogg")
    by_uri.upload_from_filename(str(music_file))
    uri = f"gs://{config.ingest_bucket_name}/{by_uri.name}"
    api_uri = _api(running_stack, "POST", "/v1/tracks", json.dumps({"source_uri": uri}).encode())
    api_body = _api(
        running_stack,
        "POST",
        f"/v1/tracks?filename=e2e-{run_id}-body.ogg",
        music_file.read_bytes(),
        content_type="audio/ogg",
    )
    assert api_uri["track_id"] == track_id_for(uri, str(by_uri.generation))
    gcs_id = track_id_for(f"gs://{config.ingest_bucket_name}/{uploaded.name}", str(uploaded.generation))
    return Submitted(gcs_id, api_uri["track_id"], api_body["track_id"], running_stack)


@pytest.fixture(scope="module")
def finished(submitted: Submitted) -> dict[str, TrackRecord]:
    """Every submitted track once it is DONE or FAILED, read from the Firestore emulator."""
    from google.cloud import firestore

    from trackscan.adapters.firestore_store import FirestoreTrackStore

    config = submitted.stack.config
    tracks = FirestoreTrackStore(firestore.Client(project=config.project_id), config.tracks_collection)
    records: dict[str, TrackRecord] = {}
    deadline = time.monotonic() + DONE_TIMEOUT_S
    while time.monotonic() < deadline and len(records) < len(submitted.all):
        for track_id in set(submitted.all) - set(records):
            record = tracks.get(track_id)
            if record is not None and record.state.is_final:
                records[track_id] = record
        time.sleep(0.5)
    missing = {t: getattr(tracks.get(t), "state", None) for t in submitted.all if t not in records}
    assert not missing, f"not finished within {DONE_TIMEOUT_S} s: {missing}"
    return records


def _assert_tags_match(result: dict[str, Any], embedded: dict[str, Any]) -> None:
    for model in ("mtt", "msd"):
        cloud, local = result["tags"][model], embedded["tags"][model]
        assert set(cloud) == set(local) and len(local) == 50
        off = {tag: (cloud[tag], local[tag]) for tag in local if abs(cloud[tag] - local[tag]) > TOLERANCE}
        assert not off, f"{model} tags differ by more than {TOLERANCE}: {off}"


def test_cloud_pipeline_tags_like_embedded_run_when_music_uploaded_to_ingest_bucket(
    submitted: Submitted, finished: dict[str, TrackRecord], embedded: dict[str, Any]
):
    record = finished[submitted.uploaded]
    assert record.state.value == "DONE", record.error
    assert record.result is not None and record.model is not None
    _assert_tags_match({"tags": record.result.tags}, embedded)
    assert record.result.top_tags == embedded["top_tags"]
    assert record.result.duration_s == pytest.approx(embedded["duration_s"], abs=1e-3)
    assert record.model.name == embedded["model"]["name"]


@pytest.mark.parametrize("way", ["api_uri", "api_body"])
def test_api_serves_tags_like_embedded_run_when_track_submitted_through_api(
    way: str, submitted: Submitted, finished: dict[str, TrackRecord], embedded: dict[str, Any]
):
    track_id = getattr(submitted, way)
    resource = _api(submitted.stack, "GET", f"/v1/tracks/{track_id}")
    assert resource["state"] == "DONE", resource["error"]
    assert resource["partner"] == submitted.stack.env["TRACKSCAN_DEV_PARTNER"]
    _assert_tags_match(resource["result"], embedded)


def test_cloud_timeline_runs_received_to_done_when_track_finishes(
    submitted: Submitted, finished: dict[str, TrackRecord]
):
    for track_id in submitted.all:
        record = finished[track_id]
        # The three carry the same bytes: one that ingest saw after another finished is served its
        # result (content dedupe) and goes straight to DONE.
        expected = ["RECEIVED", "DONE"] if record.reused else TIMELINE
        assert [event.state for event in record.timeline] == expected, track_id


def test_cloud_pipeline_leaves_no_work_blobs_when_track_done(submitted: Submitted, finished: dict[str, TrackRecord]):
    from google.cloud import storage

    client = storage.Client()
    work_bucket = submitted.stack.config.work_bucket_name

    def left() -> dict[str, list[str]]:
        found = {t: [b.name for b in client.list_blobs(work_bucket, prefix=f"{t}/")] for t in submitted.all}
        return {t: names for t, names in found.items() if names}

    # finalize deletes the work blobs just after it commits DONE: give it a moment.
    deadline = time.monotonic() + 30
    while (remaining := left()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not remaining


def test_cloud_reupload_of_the_same_bytes_is_served_the_finished_result(
    submitted: Submitted, finished: dict[str, TrackRecord], music_file: Path
):
    from google.cloud import firestore, storage

    from trackscan.adapters.firestore_store import FirestoreTrackStore

    stack = submitted.stack
    config, partner = stack.config, stack.env["TRACKSCAN_DEV_PARTNER"]
    again = storage.Client().bucket(config.ingest_bucket_name).blob(f"{partner}/e2e-{uuid.uuid4().hex[:8]}-again.ogg")
    again.upload_from_filename(str(music_file))  # the md5 fake GCS gives is the dedupe key
    track_id = track_id_for(f"gs://{config.ingest_bucket_name}/{again.name}", str(again.generation))
    tracks = FirestoreTrackStore(firestore.Client(project=config.project_id), config.tracks_collection)
    deadline = time.monotonic() + 60
    while (record := tracks.get(track_id)) is None or not record.state.is_final:
        assert time.monotonic() < deadline, f"not finished: {record}"
        time.sleep(0.3)
    original = finished[submitted.uploaded]
    assert record.state.value == "DONE" and record.reused is not None
    assert record.result == original.result and [e.state for e in record.timeline] == ["RECEIVED", "DONE"]
    resource = _api(stack, "GET", f"/v1/tracks/{track_id}")
    assert resource["reused"]["made_at"] and submitted.uploaded not in json.dumps(resource)


def test_api_finds_the_same_sound_first_when_asked_for_similar_tracks_on_the_stack(
    submitted: Submitted, finished: dict[str, TrackRecord]
):
    found = _api(submitted.stack, "GET", f"/v1/tracks/{submitted.uploaded}/similar?limit=2")["similar"]
    assert len(found) == 2 and submitted.uploaded not in {t["track_id"] for t in found}
    assert all(t["similarity"] == pytest.approx(1.0, abs=1e-4) for t in found)  # the same bytes


def test_console_serves_the_track_page_to_the_dev_login_on_the_stack(submitted: Submitted, finished):
    import http.cookiejar

    base = submitted.stack.env["TRACKSCAN_API_URL"]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base}/console/login", timeout=30) as response:  # the form's CSRF token first
        token = re.search(r'name="csrf" value="([^"]+)"', response.read().decode()).group(1)
    form = urllib.parse.urlencode({"key": submitted.stack.api_key, "csrf": token}).encode()
    login = urllib.request.Request(f"{base}/console/login", data=form, method="POST")
    with opener.open(login, timeout=30) as response:
        assert response.url.endswith("/console/")
    with opener.open(f"{base}/console/tracks/{submitted.uploaded}", timeout=30) as response:
        page = response.read().decode()
    assert "DONE" in page and "Timeline" in page and '<g class="span">' in page


def test_backfill_pass_retags_a_result_of_another_model_through_the_stack(
    submitted: Submitted, finished: dict[str, TrackRecord]
):
    from dataclasses import replace

    from trackscan.domain.config import Config
    from trackscan.pipeline import backfill
    from trackscan.runtimes.bootstrap import cloud_deps

    deps = cloud_deps(Config.from_env())  # the stack's Firestore, Pub/Sub and GCS (its env is set)
    model = deps.tagger.model_info()
    track_id = submitted.api_uri
    # As if an older model had made this result: the pass must find it, re-run it, and put it back.
    document = deps.tracks._document_of(track_id)  # type: ignore[attr-defined]
    document.update({"model.sha256": "0ld" + model.sha256[3:]})
    stale = deps.tracks.get(track_id)
    assert stale is not None and stale.model != model and backfill.is_stale(stale, model)
    sent: list = []
    deadline = time.monotonic() + 20
    while track_id not in {track_id_for(m.source_uri, m.generation) for m in sent}:
        assert time.monotonic() < deadline, "the pass never reached the track"
        backfill.backfill_pass(deps, model, 50, 100.0, lambda m: (sent.append(m), deps.publisher.publish(m)))
    deadline = time.monotonic() + 120
    while (record := deps.tracks.get(track_id)) is not None and record.model != model:
        assert record.state.value == "DONE" and record.result == stale.result  # the old result, readable
        assert time.monotonic() < deadline, "the re-run's result never replaced the old one"
        time.sleep(0.5)
    assert record is not None and record.timeline[-1].step == "backfill"
    resource = _api(submitted.stack, "GET", f"/v1/tracks/{track_id}")
    assert resource["model"] == {"name": model.name, "sha256": model.sha256, "variant": model.variant}
    assert replace(record, timeline=stale.timeline, updated_at=stale.updated_at, model=stale.model) == stale
