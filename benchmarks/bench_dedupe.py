"""Content dedupe: what uploading a corpus a second time costs, with and without reusing results.

Each repetition starts from an empty store and runs the real handlers in process (the sandboxed
decoder, onnxruntime), one message at a time, on three uploads of the same files:

- first: the corpus under one set of names (everything decoded and scored);
- again: the same bytes under other names (another partner's re-upload): served by dedupe;
- again --force: the same re-upload, forced to be tagged again, which is what every re-upload
  cost before dedupe.

Reported per variant: wall time, model calls (Tagger.predict batches), patches scored and decodes
(segments), median and spread over interleaved repetitions.

    python -m benchmarks.bench_dedupe --music ~/.cache/trackscan/music --corpus torus-trooper-data --repeats 3
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import tempfile
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from trackscan.cli.files import upload_event
from trackscan.domain.config import Config
from trackscan.domain.messages import Message, SegmentPlanned, UploadReceived
from trackscan.domain.ports import Predictions, Tagger
from trackscan.domain.results import ModelInfo
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackState
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.step_policy import run_step
from trackscan.runtimes.bootstrap import local_deps

VARIANTS = ("first", "again", "again --force")


class CountingTagger:
    """Counts the model calls and patches of the tagger it wraps."""

    def __init__(self, inner: Tagger) -> None:
        self.inner, self.calls, self.patches = inner, 0, 0

    def predict(self, patches: np.ndarray) -> Predictions:
        self.calls += 1
        self.patches += len(patches)
        return self.inner.predict(patches)

    def model_info(self) -> ModelInfo:
        return self.inner.model_info()


@dataclass
class Cost:
    seconds: float
    model_calls: int
    patches: int
    decodes: int
    reused: int


def _run(deps: Deps, uploads: list[UploadReceived]) -> Cost:
    tagger = CountingTagger(deps.tagger)
    deps = replace(deps, tagger=tagger)
    queue: deque[Message] = deque(uploads)
    decodes = 0
    started = time.perf_counter()
    while queue:
        message = queue.popleft()
        decodes += isinstance(message, SegmentPlanned)
        run_step(message, deps)
        queue.extend(deps.publisher.drain())  # type: ignore[attr-defined]
    seconds = time.perf_counter() - started
    records = [deps.tracks.get(track_id_for(u.source_uri, u.generation)) for u in uploads]
    assert all(r is not None and r.state is TrackState.DONE for r in records), records
    return Cost(seconds, tagger.calls, tagger.patches, decodes, sum(1 for r in records if r and r.reused))


def _copies(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    return [Path(shutil.copy2(f, folder / f"copy-{f.name}")) for f in files]


def repetition(files: list[Path], workdir: Path) -> dict[str, Cost]:
    """The three variants on a fresh store."""
    config = Config.from_env({"TRACKSCAN_HOME": str(workdir / "home")})
    deps = local_deps(config, onnx_threads=1)
    try:
        first = _run(deps, [upload_event(f) for f in files])
        again = _run(deps, [replace(upload_event(f), partner="other") for f in _copies(files, workdir / "b")])
        forced = _run(deps, [upload_event(f, force=True) for f in _copies(files, workdir / "c")])
    finally:
        deps.decoder.close()  # type: ignore[attr-defined]
    return {"first": first, "again": again, "again --force": forced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--music", type=Path, required=True)
    parser.add_argument("--corpus", default="torus-trooper-data")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = sorted((args.music / args.corpus).glob("*.ogg"))
    results: dict[str, list[Cost]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            for variant, cost in repetition(files, Path(folder)).items():
                results[variant].append(cost)
    print(
        f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
        f"{args.corpus}: {len(files)} tracks; {args.repeats} repetitions, in process, one message at a time\n"
    )
    print(
        "| upload | wall time, median (min-max) | model calls | patches scored | segments decoded | "
        "results reused |\n|---|---|---|---|---|---|"
    )
    for variant in VARIANTS:
        costs = results[variant]
        seconds = [c.seconds for c in costs]
        print(
            f"| {variant} | {statistics.median(seconds):.2f} s ({min(seconds):.2f}-{max(seconds):.2f}) | "
            f"{costs[0].model_calls} | {costs[0].patches} | {costs[0].decodes} | {costs[0].reused} of {len(files)} |"
        )


if __name__ == "__main__":
    main()
