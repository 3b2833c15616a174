"""Children end with their parent and keep their own stop signals (issue: nothing outlives a killed run).

Each test starts real processes: a parent in a subprocess of its own session, its children as
the runtimes start them, then kills or signals one of them and watches /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.audio_fixtures import music_like, write_audio
from tests.processes import session_members, wait_until_gone
from trackscan.adapters.audio_decoders import SandboxedDecoder
from trackscan.adapters.local_blobs import FolderBlobStore
from trackscan.domain.config import DEFAULT_DECODE_MEMORY_BYTES, Config
from trackscan.domain.file_uris import uri_of

ORPHAN_LIMIT_S = 5.0


def _start(script: str) -> subprocess.Popen:
    """A Python parent in a session of its own; it prints one line once its children are up."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )


def _kill_parent_and_wait(parent: subprocess.Popen) -> list[int]:
    """SIGKILLs the parent alone; returns what is left of its session after ORPHAN_LIMIT_S."""
    parent.kill()
    parent.wait(timeout=10)
    return wait_until_gone(parent.pid, ORPHAN_LIMIT_S)


def test_sandboxed_decoder_child_ends_when_its_parent_is_killed(tmp_path):
    song = uri_of(write_audio(tmp_path / "song.flac", music_like(4.0)))
    parent = _start(f"""
        from trackscan.adapters.audio_decoders import SandboxedDecoder
        from trackscan.adapters.local_blobs import FolderBlobStore
        decoder = SandboxedDecoder(FolderBlobStore().open_read, 10.0, {DEFAULT_DECODE_MEMORY_BYTES})
        decoder.probe({song!r}, 60.0)
        print(decoder._pid, flush=True)
        import time; time.sleep(600)
        """)
    child = int(parent.stdout.readline())  # type: ignore[union-attr]
    assert child in session_members(parent.pid)
    assert _kill_parent_and_wait(parent) == []


def test_sandboxed_decoder_keeps_its_child_when_the_thread_that_started_it_ends(tmp_path):
    # The parent-death signal follows the starting thread: a step thread that ends must not take
    # the decoder with it (its next decode would read as a crash on the file).
    song = uri_of(write_audio(tmp_path / "song.flac", music_like(4.0)))
    decoder = SandboxedDecoder(FolderBlobStore().open_read, 10.0, DEFAULT_DECODE_MEMORY_BYTES)
    try:
        step = threading.Thread(target=decoder.probe, args=(song, 60.0))
        step.start()
        step.join()
        child = decoder._pid
        time.sleep(0.5)
        assert decoder.decode(song, 0.0, 2.0).samples.size > 0
        assert decoder._pid == child
    finally:
        decoder.close()


def test_sandboxed_decoder_finishes_the_decode_when_its_process_group_gets_sigterm(tmp_path):
    # `kill -TERM -PGID`, or a service manager stopping the group: the decode is not the file's fault.
    song = uri_of(write_audio(tmp_path / "song.flac", music_like(4.0)))
    decoder = SandboxedDecoder(FolderBlobStore().open_read, 10.0, DEFAULT_DECODE_MEMORY_BYTES)
    try:
        decoder.probe(song, 60.0)
        child = decoder._pid
        os.kill(child, signal.SIGTERM)
        os.kill(child, signal.SIGINT)
        time.sleep(0.5)
        assert np.isfinite(decoder.decode(song, 0.0, 2.0).samples).all()
        assert decoder._pid == child  # the same child, alive through both signals
    finally:
        decoder.close()


def _local_runner_parent(home: Path, song: Path) -> subprocess.Popen:
    """A parent holding the embedded default's worker pool, each worker with a started decoder."""
    return _start(f"""
        import os, sys
        from trackscan.domain.config import Config
        from trackscan.runtimes.local_runner import LocalRunner
        runner = LocalRunner(Config.from_env({{**os.environ, "TRACKSCAN_HOME": {str(home)!r}}}), 2, print)
        pool = runner._new_pool()
        from tests.unit.test_child_processes import decoder_started_in_worker
        futures = [pool.submit(decoder_started_in_worker, {str(song)!r}) for _ in range(4)]
        print(*{{f.result() for f in futures}}, *[f"{{pid}}:" for pid in pool._processes], flush=True)
        import time; time.sleep(600)
        """)


def decoder_started_in_worker(path: str) -> str:
    """Runs in a worker: starts its sandboxed decoder; returns 'worker_pid:decoder_pid'."""
    from trackscan.runtimes import local_runner

    deps = local_runner._worker_deps
    assert deps is not None
    deps.decoder.probe(uri_of(Path(path)), 60.0)
    return f"{os.getpid()}:{deps.decoder._pid}"  # type: ignore[attr-defined]


def test_local_runner_workers_and_their_decoders_end_when_the_parent_is_killed(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(4.0))
    parent = _local_runner_parent(tmp_path / "home", song)
    pairs = parent.stdout.readline().split()  # type: ignore[union-attr]
    started = {int(pid) for pair in pairs for pid in pair.split(":") if pid}
    assert len(started) >= 3  # both workers, and at least one decoder child
    assert started <= set(session_members(parent.pid))
    assert _kill_parent_and_wait(parent) == []


def test_local_runner_worker_ends_when_sent_sigterm_alone(tmp_path):
    song = write_audio(tmp_path / "song.flac", music_like(4.0))
    parent = _local_runner_parent(tmp_path / "home", song)
    try:
        pairs = parent.stdout.readline().split()  # type: ignore[union-attr]
        worker, decoder = (int(pid) for pid in pairs[0].split(":"))
        os.kill(worker, signal.SIGTERM)  # idle: it ends at once, its decoder with it
        deadline = time.monotonic() + ORPHAN_LIMIT_S
        while time.monotonic() < deadline and {worker, decoder} & set(session_members(parent.pid)):
            time.sleep(0.1)
        assert not {worker, decoder} & set(session_members(parent.pid))
        assert parent.poll() is None  # the run itself goes on
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)


def _thread_affinities(pid: int) -> set[str]:
    """The CPU list each thread of a process may run on."""
    lists = set()
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                lists.add(line.split(":", 1)[1].strip())
    return lists


def worker_thread_affinities_while_inferring() -> set[str]:
    """Runs in a worker: every CPU list its threads had while its model scored patches.

    OpenVINO pins the calling thread for the length of each call and lets it go after, so the
    lists are sampled during the calls, from a second thread.
    """
    from trackscan.runtimes import local_runner

    deps = local_runner._worker_deps
    assert deps is not None
    seen: set[str] = set()
    inferring = threading.Event()

    def sample() -> None:
        while inferring.is_set():
            seen.update(_thread_affinities(os.getpid()))
            time.sleep(0.02)

    patches = np.random.default_rng(0).random((8, 187, 96), dtype=np.float32)
    deps.tagger.predict(patches)  # compiled first: the calls are what the workers repeat
    inferring.set()
    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(2):
        deps.tagger.predict(patches)
    inferring.clear()
    sampler.join()
    return seen


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to tell a narrowed affinity")
def test_local_runner_workers_keep_every_cpu_while_their_model_runs(tmp_path):
    # OpenVINO pins its inference threads by default: with one thread per worker, every worker
    # ran its model on CPU 0 and the run used one core of two.
    config = Config.from_env({**os.environ, "TRACKSCAN_HOME": str(tmp_path / "home")})
    if not Path(config.model_path).is_file():
        pytest.skip(f"no model at {config.model_path}: build it with `make model`")
    from trackscan.runtimes.local_runner import LocalRunner

    everything = _thread_affinities(os.getpid())
    pool = LocalRunner(config, 2, print)._new_pool()
    try:
        futures = [pool.submit(worker_thread_affinities_while_inferring) for _ in range(2)]  # both workers at once
        seen = [future.result() for future in futures]
    finally:
        pool.shutdown()
    assert all(lists == everything for lists in seen), f"{seen} against {everything}"


def sqlite_connections_in_this_process() -> int:
    """Runs in a worker: how many SQLite connection objects its memory holds."""
    import gc
    import sqlite3

    return sum(type(thing) is sqlite3.Connection for thing in gc.get_objects())


def test_local_runner_workers_start_without_the_parents_sqlite_connection(tmp_path):
    # The runner reads the store between steps, and starts a new pool when a worker dies: a
    # forked worker would carry the open connection and SQLite's lock state into its own writes.
    from trackscan.domain.tracks import new_record
    from trackscan.runtimes.local_runner import LocalRunner

    config = Config.from_env({**os.environ, "TRACKSCAN_HOME": str(tmp_path / "home")})
    runner = LocalRunner(config, 1, print)
    runner._deps.tracks.create_if_absent(new_record("file:///a.mp3", "1", "p1", "ingest"))
    assert sqlite_connections_in_this_process() >= 1
    pool = runner._new_pool()
    try:
        assert pool.submit(sqlite_connections_in_this_process).result() == 0
    finally:
        pool.shutdown()
