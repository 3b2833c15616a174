"""What a faulted run ended with: reference results from the embedded default, and the counts
a FaultRow reports (DONE, FAILED by code, lost, duplicated)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tests.audio_fixtures import music_like, write_audio
from tests.faults.emulator_stack import SEGMENT_S, FaultStack, Upload
from tests.faults.pull_workers import log_lines
from tests.faults.report import FaultRow
from trackscan.domain.config import Config
from trackscan.domain.results import TrackResult
from trackscan.domain.track_ids import track_id_for

STACK = "emulators"
TRACK_S = 25.0  # three 10 s segments
SEGMENTS = 3


def reference_results(paths: Iterable[Path], home: Path) -> dict[Path, TrackResult]:
    """What the embedded default makes of each file with the model the dev stack's Triton serves
    (onnxruntime fp32, not the CPU's fastest variant) and the same segment length: every cloud
    result must equal it, whatever faults it went through."""
    from tests.pipeline_fixtures import run_to_completion, upload
    from trackscan.adapters.audio_decoders import InProcessDecoder
    from trackscan.runtimes.bootstrap import local_deps

    config = replace(
        Config.from_env({"TRACKSCAN_HOME": str(home)}), segment_s=SEGMENT_S, model_variant="onnxruntime-fp32"
    )
    deps = local_deps(config, model_threads=1)
    deps = replace(deps, decoder=InProcessDecoder(deps.blobs))
    results = {}
    for path in paths:
        event = upload(path)
        run_to_completion(deps, event)
        record = deps.tracks.get(track_id_for(event.source_uri, event.generation))
        assert record is not None and record.result is not None, f"the reference run failed on {path}"
        results[path] = record.result
    return results


def same_result(stored: dict[str, Any] | None, expected: TrackResult, tolerance: float = 1e-4) -> bool:
    """Whether a stored result equals the reference (Triton and onnxruntime agree within 1e-5)."""
    if not stored:
        return False
    deltas = [
        abs(stored["tags"][model][tag] - score)
        for model, scores in expected.tags.items()
        for tag, score in scores.items()
    ]
    return (
        max(deltas) <= tolerance
        and stored["key"] == expected.key
        and abs(stored["duration_s"] - expected.duration_s) < 1e-3
    )


def failed_codes(records: Iterable[dict | None]) -> dict[str, int]:
    return dict(Counter(r["error"]["code"] for r in records if r and r["state"] == "FAILED"))


def done_count(record: dict | None) -> int:
    """How many times the track's timeline says DONE (a doubled result shows as 2)."""
    return sum(event["state"] == "DONE" for event in (record or {}).get("timeline", []))


def make_songs(folder: Path, count: int, seconds: float = TRACK_S, first_seed: int = 0) -> list[Path]:
    """Different audio per track (a different noise floor), so results are told apart.

    Seeds must not repeat within a session: the tests share one stack, and a file whose bytes
    were tagged before gets that result reused, without a step running for it.
    """
    paths = []
    for i in range(first_seed, first_seed + count):
        noise = np.random.default_rng(i).normal(0, 0.01 * (i % 5 + 1), int(seconds * 44_100)).astype(np.float32)
        paths.append(write_audio(folder / f"song{i}.flac", music_like(seconds) + noise))
    return paths


def segments_scored(stack: FaultStack, track_ids, *extra_logs: Path) -> Counter:
    """Prediction blobs written per track (a segment scored twice would count twice)."""
    logs = [stack.log_path("infer"), *extra_logs]
    return Counter(line["track_id"] for log in logs for line in log_lines(log, "predictions written", track_ids))


def expected_results(uploads: list[Upload], paths: list[Path], references: dict) -> dict:
    """Track id -> the reference result of the file uploaded as that track."""
    return {u.track_id: references[p] for u, p in zip(uploads, paths, strict=True)}


def fault_row(fault: str, uploads: list[Upload], records: dict, references: dict, **fields) -> FaultRow:
    """A FaultRow from the final records; references maps track id -> expected TrackResult."""
    row = FaultRow(fault, STACK, len(uploads), **fields)
    finished = [records.get(u.track_id) for u in uploads]
    row.done = sum(r is not None and r["state"] == "DONE" for r in finished)
    row.failed = failed_codes(finished)
    row.lost = sum(r is None or r["state"] not in ("DONE", "FAILED") for r in finished)
    done = {t: r for t, r in records.items() if r and r["state"] == "DONE"}
    row.duplicated = sum(
        done_count(r) > 1 or (t in references and not same_result(r["result"], references[t]))
        for t, r in done.items()
        if t in {u.track_id for u in uploads}
    )
    return row
