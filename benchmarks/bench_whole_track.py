"""The whole-track unit against the segment chain, on real tracks, one model thread, one core.

For each track, interleaved over rounds: the segment chain (ingest, features per segment, infer
per segment, finalize: the Cloud Run lane's steps, work blobs in a folder) and the whole-track
unit (ingest alone: the worker lane), both on the sandboxed decoder and the model in process on
one thread, as one worker process on one vCPU runs them. Prints per lane the median and spread
of CPU seconds per audio minute (this process and the decoder child), the longest unit of work
(the step budget's figure) and the tags' agreement; then the longest track whose whole-track
unit would stay inside the step budget at the measured rate.

The whole-track unit's CPU less the model's is the front end (decode, features, descriptors, the
record): --write-inputs records its median in trackscan/costs/cost_inputs.toml, for the worker
lane's units and the features step, which `trackscan cost` prices (the model's own time there
is the AMX bf16 figure).

    python -m benchmarks.bench_whole_track --music ~/.cache/trackscan/music --tracks 4 --rounds 3 [--write-inputs]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.bench_segment_steps import cpu_s, decoder_children
from trackscan.audio.warmup import warm_up
from trackscan.cli.files import upload_event
from trackscan.costs.model import HERE as COSTS_DIR
from trackscan.domain.config import Config
from trackscan.domain.messages import UploadReceived
from trackscan.domain.ports import Predictions, QueuedPublisher, Tagger
from trackscan.domain.results import ModelInfo, TrackResult
from trackscan.domain.track_ids import track_id_for
from trackscan.pipeline.deps import Deps
from trackscan.pipeline.step_policy import run_step
from trackscan.runtimes.bootstrap import local_deps

CORPORA = ("wesnoth-1.16-music", "drascula-music")
STEP_BUDGET_S = 10.0
# The unit's length is chosen with this headroom under the budget: a slower or busier machine.
HEADROOM = 2.0


class CpuTimedTagger:
    """A tagger that adds up the CPU seconds its calls take (the model runs on this thread)."""

    def __init__(self, tagger: Tagger) -> None:
        self._tagger = tagger
        self.cpu_s = 0.0

    def predict(self, patches: np.ndarray) -> Predictions:
        began = time.process_time()
        try:
            return self._tagger.predict(patches)
        finally:
            self.cpu_s += time.process_time() - began

    def model_info(self) -> ModelInfo:
        return self._tagger.model_info()


def tracks(music: Path, count: int, deps: Deps, min_s: float, max_s: float) -> list[tuple[Path, float]]:
    """Up to count real tracks lasting min_s to max_s, with their durations."""
    chosen = []
    for path in sorted(p for corpus in CORPORA for p in (music / corpus).glob("*.ogg")):
        duration_s = deps.decoder.probe(upload_event(path).source_uri, 7200.0).duration_s
        if min_s <= duration_s <= max_s:
            chosen.append((path, duration_s))
        if len(chosen) == count:
            break
    return chosen


def tag(path: Path, deps: Deps, child: int) -> tuple[float, float, float, TrackResult]:
    """Tags the track from scratch: total wall s, total CPU s, the longest unit's wall s, the result."""
    event = replace(upload_event(path), force=True)  # redone every round: the record restarts
    queue: list[UploadReceived | object] = [event]
    began, cpu, child_cpu, longest = time.perf_counter(), time.process_time(), cpu_s(child), 0.0
    while queue:
        step_began = time.perf_counter()
        run_step(queue.pop(0), deps)  # type: ignore[arg-type]
        longest = max(longest, time.perf_counter() - step_began)
        assert isinstance(deps.publisher, QueuedPublisher)
        queue.extend(deps.publisher.drain())
    wall, used = time.perf_counter() - began, time.process_time() - cpu + cpu_s(child) - child_cpu
    record = deps.tracks.get(track_id_for(event.source_uri, event.generation))
    assert record is not None and record.result is not None, f"{path.name} did not finish"
    return wall, used, longest, record.result


def cpu_description() -> str:
    """The CPU's model name and whether it has AMX (what the model's speed turns on)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
    amx = " with AMX" if re.search(r"\bamx_bf16\b", info) else " without AMX"
    return (name[1].strip() if name else platform.machine()) + amx


def write_input(name: str, value: float, source: str) -> None:
    """Rewrites one table of cost_inputs.toml with a measured value."""
    path = COSTS_DIR / "cost_inputs.toml"
    table = f'[{name}]\nvalue = {value:.3f}\nstatus = "measured"\nsource = "{source}"\n'
    text = path.read_text()
    pattern = re.compile(rf"^\[{re.escape(name)}\]\n(?:[^\[\n].*\n)*", re.MULTILINE)
    path.write_text(pattern.sub(table, text, count=1) if pattern.search(text) else text + "\n" + table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, required=True, help="folder made by scripts/fetch_music.sh")
    parser.add_argument("--tracks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-s", type=float, default=150.0, help="shortest track to take")
    parser.add_argument("--max-s", type=float, default=330.0, help="longest track to take")
    parser.add_argument("--write-inputs", action="store_true", help="record the front end's CPU for the cost model")
    args = parser.parse_args()
    warm_up()
    with tempfile.TemporaryDirectory() as home:
        config = Config.from_env({"TRACKSCAN_HOME": home})
        lanes = {
            "segment chain": local_deps(replace(config, whole_track_max_s=0.0), model_threads=1),
            "whole track": local_deps(replace(config, whole_track_max_s=7200.0), model_threads=1),
        }
        timed = CpuTimedTagger(lanes["whole track"].tagger)
        lanes["whole track"] = replace(lanes["whole track"], tagger=timed)
        children: dict[str, int] = {}
        for lane, deps in lanes.items():  # model compilation and the decoder child's start, not measured
            others = decoder_children()
            chosen = tracks(args.music, args.tracks, deps, args.min_s, args.max_s)
            (children[lane],) = decoder_children() - others
            tag(chosen[0][0], deps, children[lane])
        per_minute: dict[str, list[float]] = defaultdict(list)
        longest: dict[str, list[float]] = defaultdict(list)
        whole_s_per_audio_s: list[float] = []
        same_tags = 0
        front_end: list[float] = []
        for _ in range(args.rounds):
            for path, duration_s in chosen:
                results = {}
                for lane, deps in lanes.items():
                    model_before = timed.cpu_s
                    _wall, used, unit_s, results[lane] = tag(path, deps, children[lane])
                    if lane == "whole track":
                        front_end.append((used - (timed.cpu_s - model_before)) / (duration_s / 60))
                    per_minute[lane].append(used / (duration_s / 60))
                    longest[lane].append(unit_s)
                whole_s_per_audio_s.append(longest["whole track"][-1] / duration_s)
                same_tags += results["segment chain"].tags == results["whole track"].tags
        audio_min = sum(d for _, d in chosen) / 60
        print(
            f"{len(chosen)} tracks, {audio_min:.1f} audio-min ({', '.join(f'{d:.0f} s' for _, d in chosen)}), "
            f"{args.rounds} rounds interleaved; model {lanes['whole track'].tagger.model_info().variant}, one thread\n"
        )
        print("| lane | CPU-s per audio-min, median | min-max | longest unit of work (s), median | max |")
        print("|---|---|---|---|---|")
        for lane in lanes:
            cpu, unit = np.array(per_minute[lane]), np.array(longest[lane])
            print(
                f"| {lane} | {np.median(cpu):.2f} | {cpu.min():.2f}-{cpu.max():.2f} "
                f"| {np.median(unit):.2f} | {unit.max():.2f} |"
            )
        runs = args.rounds * len(chosen)
        print(
            f"\nwhole track without the model (decode, features, descriptors, record): "
            f"{np.median(front_end):.3f} CPU-s per audio-min (min-max {min(front_end):.3f}-{max(front_end):.3f})"
        )
        print(f"\nidentical tags in {same_tags} of {runs} paired runs")
        rate = max(whole_s_per_audio_s)
        print(
            f"whole-track unit: at most {rate:.4f} s of work per audio-second here; a track of "
            f"{STEP_BUDGET_S / HEADROOM / rate:.0f} s would take {STEP_BUDGET_S / HEADROOM:.0f} s "
            f"({HEADROOM:g}x under the {STEP_BUDGET_S:.0f} s budget)"
        )
        if args.write_inputs:
            cpu = cpu_description()
            source = (
                f"benchmarks/bench_whole_track.py --write-inputs, {datetime.date.today()}, {cpu}, "
                f"{len(chosen)} real tracks x {args.rounds} rounds: the whole-track unit's CPU less the model's"
            )
            write_input("front_end_cpu_s_per_audio_min", float(np.median(front_end)), source)


if __name__ == "__main__":
    main()
