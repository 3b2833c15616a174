"""The decoder sandbox: a codec that crashes, hangs or hogs memory fails one file, not the worker.

The failures are real: the child process segfaults, sleeps or allocates past its cap, through
openers defined here (the child imports this module to unpickle them). This module's imports are
kept light for that reason; the pipeline fixtures (and librosa with them) load inside the tests.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest

from tests.audio_fixtures import bytes_file, music_like, pdf_named, write_audio
from trackscan.adapters.audio_decoders import InProcessDecoder, SandboxedDecoder
from trackscan.adapters.local_blobs import FolderBlobStore
from trackscan.domain.config import DEFAULT_DECODE_MEMORY_BYTES
from trackscan.domain.errors import BadAudioError, BadMessageError, PermanentError, RetryableError
from trackscan.domain.file_uris import uri_of
from trackscan.domain.step_deadline import StepDeadlineError, step_deadline

TIMEOUT_S = 2.0


class TwoPartError(Exception):
    """Pickles, but cannot be unpickled: its __init__ takes two arguments and args holds one."""

    def __init__(self, part: str, other: str) -> None:
        super().__init__(f"{part} {other}")


def faulty_opener(uri: str) -> BinaryIO:
    """Opens local files, misbehaving in the child like a broken codec when the name says so."""
    name = uri.rsplit("/", 1)[-1]
    if name.startswith("crash"):
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    if name.startswith("hang"):
        time.sleep(3600)
    if name.startswith("odd"):
        raise TwoPartError("a library's", "own error")
    if name.startswith("hog"):
        np.ones(4 * DEFAULT_DECODE_MEMORY_BYTES, np.uint8)  # past the address-space cap
    return FolderBlobStore().open_read(uri)


@pytest.fixture
def sandbox():
    decoder = SandboxedDecoder(faulty_opener, TIMEOUT_S, DEFAULT_DECODE_MEMORY_BYTES)
    yield decoder
    decoder.close()


@pytest.fixture
def song(tmp_path) -> str:
    return uri_of(write_audio(tmp_path / "song.flac", music_like(4.0)))


def _copy(uri: str, name: str) -> str:
    source = Path(uri.removeprefix("file://"))
    return uri_of(bytes_file(source.with_name(name), source.read_bytes()))


def test_sandboxed_decoder_matches_in_process_decoding_when_the_file_is_good(tmp_path, sandbox):
    stereo = np.stack([music_like(65.0), 0.5 * music_like(65.0)], axis=1)
    uri = uri_of(write_audio(tmp_path / "long.flac", stereo))
    in_process = InProcessDecoder(FolderBlobStore())
    assert sandbox.probe(uri, 7200.0) == in_process.probe(uri, 7200.0)
    sandboxed, direct = sandbox.decode(uri, 3.0, 60.0), in_process.decode(uri, 3.0, 60.0)
    assert sandboxed.sample_rate == direct.sample_rate
    assert sandboxed.samples.dtype == np.float32 and np.array_equal(sandboxed.samples, direct.samples)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d: bytes_file(d / "empty.mp3", b""), "EMPTY"),
        (lambda d: pdf_named(d / "paper.mp3"), "UNSUPPORTED"),
    ],
    ids=["zero-byte", "pdf"],
)
def test_sandboxed_decoder_passes_the_code_and_message_through_when_the_file_is_bad(tmp_path, sandbox, make, code):
    uri = uri_of(make(tmp_path))
    with pytest.raises(BadAudioError) as in_process:
        InProcessDecoder(FolderBlobStore()).probe(uri, 7200.0)
    with pytest.raises(BadAudioError) as sandboxed:
        sandbox.probe(uri, 7200.0)
    assert (sandboxed.value.code, sandboxed.value.message) == (code, in_process.value.message)


def test_sandboxed_decoder_raises_decoder_crashed_then_recovers_when_the_child_segfaults(sandbox, song):
    with pytest.raises(BadAudioError) as crashed:
        sandbox.decode(_copy(song, "crash.flac"), 0.0, 2.0)
    assert crashed.value.code == "DECODER_CRASHED" and "damaged" in crashed.value.message
    assert sandbox.decode(song, 0.0, 2.0).duration_s == pytest.approx(2.0)


def test_sandboxed_decoder_raises_retryable_within_the_timeout_then_recovers_when_decoding_hangs(sandbox, song):
    sandbox.probe(song, 7200.0)  # the child is up, so only the hang is timed
    started = time.monotonic()
    with pytest.raises(RetryableError, match="took more than"):
        sandbox.decode(_copy(song, "hang.flac"), 0.0, 2.0)
    assert time.monotonic() - started < TIMEOUT_S + 1.0
    assert sandbox.decode(song, 0.0, 2.0).duration_s == pytest.approx(2.0)


def test_sandboxed_decoder_raises_out_of_memory_and_keeps_serving_when_the_cap_is_exceeded(sandbox, song):
    with pytest.raises(BadAudioError) as hog:
        sandbox.probe(_copy(song, "hog.flac"), 7200.0)
    assert hog.value.code == "DECODER_OUT_OF_MEMORY"
    assert f"{DEFAULT_DECODE_MEMORY_BYTES >> 20} MiB" in hog.value.message
    assert sandbox.probe(song, 7200.0).channels == 1


def test_sandboxed_decoder_raises_retryable_not_crashed_when_the_child_error_cannot_be_unpickled(sandbox, song):
    with pytest.raises(RetryableError, match="TwoPartError: a library's own error"):
        sandbox.probe(_copy(song, "odd.flac"), 7200.0)
    assert sandbox.probe(song, 7200.0).channels == 1


def test_sandboxed_decoder_starts_again_when_closed(sandbox, song):
    sandbox.probe(song, 7200.0)
    sandbox.close()
    assert sandbox.probe(song, 7200.0).duration_s == pytest.approx(4.0, abs=0.1)


def test_sandboxed_decoder_starts_a_new_child_when_the_old_one_died_between_calls(sandbox, song):
    sandbox.probe(song, 7200.0)
    os.kill(sandbox._pid, signal.SIGKILL)  # the OOM killer or an operator, not a file
    time.sleep(0.5)  # the pool notices the death
    assert sandbox.probe(song, 7200.0).channels == 1


_worker_decoder: SandboxedDecoder | None = None


def _probe_in_a_worker(uri: str) -> tuple[int, int]:
    """Runs in a forked worker that keeps its decoder in a global, as the local runner's do."""
    global _worker_decoder
    _worker_decoder = SandboxedDecoder(faulty_opener, TIMEOUT_S, DEFAULT_DECODE_MEMORY_BYTES)
    _worker_decoder.probe(uri, 7200.0)
    return os.getpid(), _worker_decoder._pid


def test_sandboxed_decoder_lets_its_worker_process_exit_when_the_worker_pool_shuts_down(song):
    workers = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    pids = workers.submit(_probe_in_a_worker, song).result(timeout=30)
    stopper = threading.Thread(target=workers.shutdown, kwargs={"wait": True})
    stopper.start()
    stopper.join(timeout=20)
    if stopper.is_alive():  # the worker waits for its decoder child forever: end both
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
    assert not stopper.is_alive(), "the worker did not exit"


@pytest.mark.parametrize(
    "error",
    [BadAudioError("EMPTY", "The file is empty."), BadMessageError("no id"), PermanentError("X", "y")],
)
def test_permanent_error_keeps_its_code_and_message_when_pickled(error):
    copy = pickle.loads(pickle.dumps(error))
    original = (type(error), error.code, error.message, str(error))
    assert (type(copy), copy.code, copy.message, str(copy)) == original


# --- Through the step handlers, as the workers run them. ---


def test_pipeline_finishes_a_track_when_decoding_in_the_sandbox(tmp_path):
    from tests.pipeline_fixtures import make_deps, run_to_completion, upload
    from trackscan.domain.track_ids import track_id_for
    from trackscan.domain.tracks import TrackState

    deps = make_deps(tmp_path / "home", sandboxed=True, segment_s=10.0)
    try:
        event = upload(write_audio(tmp_path / "song.mp3", music_like(25.0)))
        run_to_completion(deps, event)
    finally:
        deps.decoder.close()
    record = deps.tracks.get(track_id_for(event.source_uri, event.generation))
    assert record.state is TrackState.DONE and record.segments_total == 3


def test_pipeline_fails_the_track_and_keeps_serving_when_the_decoder_crashes(tmp_path, sandbox):
    from dataclasses import replace

    from tests.pipeline_fixtures import make_deps, run_to_completion, upload
    from trackscan.domain.track_ids import track_id_for
    from trackscan.domain.tracks import TrackState

    deps = replace(make_deps(tmp_path / "home", segment_s=10.0), decoder=sandbox)
    crashing = upload(write_audio(tmp_path / "crash.flac", music_like(12.0)))
    good = upload(write_audio(tmp_path / "good.flac", music_like(12.0)))
    run_to_completion(deps, crashing, good)
    failed = deps.tracks.get(track_id_for(crashing.source_uri, crashing.generation))
    assert failed.state is TrackState.FAILED
    assert (failed.error.code, failed.error.step) == ("DECODER_CRASHED", "ingest")
    assert deps.tracks.get(track_id_for(good.source_uri, good.generation)).state is TrackState.DONE


def test_pipeline_retries_then_records_retries_exhausted_when_decoding_hangs(tmp_path, sandbox):
    from dataclasses import replace

    from tests.pipeline_fixtures import make_deps, upload
    from trackscan.domain.track_ids import track_id_for
    from trackscan.domain.tracks import TrackState
    from trackscan.pipeline.step_policy import handle_dead_letter, run_step

    deps = replace(make_deps(tmp_path / "home"), decoder=sandbox)
    event = upload(write_audio(tmp_path / "hang.flac", music_like(4.0)))
    with pytest.raises(RetryableError) as hung:
        run_step(event, deps)  # raising is what makes the transport redeliver
    handle_dead_letter(event, f"RetryableError: {hung.value}", deps, attempts=5)
    record = deps.tracks.get(track_id_for(event.source_uri, event.generation))
    assert record.state is TrackState.FAILED and record.error.code == "RETRIES_EXHAUSTED"
    assert "took more than" in record.error.message


def test_sandboxed_decoder_stops_a_hanging_decode_at_the_step_deadline_when_it_is_nearer(sandbox, song):
    sandbox.probe(song, 7200.0)
    with step_deadline(TIMEOUT_S / 4), pytest.raises(RetryableError, match=r"took more than 0\.5 s"):
        sandbox.decode(_copy(song, "hang.flac"), 0.0, 2.0)
    with step_deadline(TIMEOUT_S), pytest.raises(StepDeadlineError, match="before decoding"):
        time.sleep(TIMEOUT_S + 0.1)  # the step spent its budget elsewhere: the decode never starts
        sandbox.decode(song, 0.0, 2.0)
    assert sandbox.decode(song, 0.0, 2.0).duration_s == pytest.approx(2.0)
