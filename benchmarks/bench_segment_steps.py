"""The longest steps at one segment length: features and infer on real segments, one thread.

Runs the real features and infer handlers (local adapters, the sandboxed decoder, the model in
process on one thread as on a one-vCPU Cloud Run instance) on the first segment of a few real
tracks, interleaved over the model variants, and prints median and spread of the wall and CPU
seconds per step. --heaviest also decodes the heaviest segment the decoder accepts (8 channels,
192 kHz, 16-bit WAV) in the sandbox and reports its time and the child's peak address space,
which the sandbox caps.

    python -m benchmarks.bench_segment_steps --music ~/.cache/trackscan/music --segment-s 120
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import wave
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from trackscan.audio.decode import MAX_CHANNELS, MAX_SAMPLE_RATE
from trackscan.cli.files import upload_event
from trackscan.domain.config import Config
from trackscan.domain.file_uris import uri_of
from trackscan.domain.messages import SegmentPlanned
from trackscan.domain.ports import Tagger
from trackscan.pipeline import features, infer, ingest
from trackscan.pipeline.blob_codec import decode_features
from trackscan.pipeline.deps import Deps, features_uri, predictions_prefix, track_prefix
from trackscan.pipeline.state import read_blob
from trackscan.runtimes.bootstrap import local_deps, local_tagger, sandboxed_decoder

CORPORA = ("drascula-music", "wesnoth-1.16-music")
VARIANTS = ("onnxruntime-fp32", "auto")


def first_segments(music: Path, segment_s: float, count: int, deps: Deps) -> list[SegmentPlanned]:
    """The first segment of up to count tracks that hold a whole segment, planned by ingest."""
    segments: list[SegmentPlanned] = []
    for path in sorted(p for corpus in CORPORA for p in (music / corpus).glob("*.ogg")):
        ingest.handle(upload_event(path), deps)
        planned = [m for m in deps.publisher.drain() if isinstance(m, SegmentPlanned)]  # type: ignore[attr-defined]
        if planned and planned[0].duration_s >= segment_s:
            segments.append(planned[0])
        if len(segments) == count:
            break
    return segments


def time_steps(
    segment: SegmentPlanned, deps: Deps, taggers: dict[str, Tagger], child: int
) -> dict[str, tuple[float, float]]:
    """(wall s, CPU s) of one features and one infer invocation per variant, from clean blobs.

    CPU is this process's plus, for features, the decoder child's: what one core would have to do.
    """
    times: dict[str, tuple[float, float]] = {}
    deps.blobs.delete_prefix(track_prefix(deps, segment.track_id))
    began, cpu, child_cpu = time.perf_counter(), time.process_time(), cpu_s(child)
    features.handle(segment, deps)
    times["features"] = (time.perf_counter() - began, time.process_time() - cpu + cpu_s(child) - child_cpu)
    ready = deps.publisher.drain()[-1]  # type: ignore[attr-defined]
    for variant, tagger in taggers.items():
        deps.blobs.delete_prefix(predictions_prefix(deps, segment.track_id))
        began, cpu = time.perf_counter(), time.process_time()
        infer.handle(ready, replace(deps, tagger=tagger))
        times[f"infer {variant}"] = (time.perf_counter() - began, time.process_time() - cpu)
        deps.publisher.drain()  # type: ignore[attr-defined]
    return times


def patch_count(segment: SegmentPlanned, deps: Deps) -> int:
    """Patches the features step wrote for the segment."""
    uri = features_uri(deps, segment.track_id, segment.segment_index)
    return len(decode_features(read_blob(deps, uri)).patches)


def heaviest_segment(config: Config, segment_s: float, folder: Path) -> tuple[float, float, int, int]:
    """Decodes segment_s of 8-channel 192 kHz WAV in the sandbox: wall s, child CPU s, and the
    child's VmPeak (peak address space, which the sandbox's RLIMIT_AS caps) after a probe and
    after the decode.

    The timeout is lifted so a decode slower than Config.decode_timeout_s is measured, not stopped.
    """
    path = folder / "heaviest.wav"
    rng = np.random.default_rng(0)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(MAX_CHANNELS)
        out.setsampwidth(2)
        out.setframerate(MAX_SAMPLE_RATE)
        block = (rng.standard_normal((MAX_SAMPLE_RATE, MAX_CHANNELS)) * 3000).astype("<i2").tobytes()
        for _ in range(int(segment_s) + 5):
            out.writeframes(block)
    decoder = sandboxed_decoder(replace(config, decode_timeout_s=120.0))
    try:
        others = decoder_children()
        decoder.probe(uri_of(path), config.max_duration_s)  # starts the child
        (child,) = decoder_children() - others
        before, cpu = _peak_address_space(child), cpu_s(child)
        began = time.perf_counter()
        decoded = decoder.decode(uri_of(path), 0.0, segment_s)
        wall_s, child_cpu_s = time.perf_counter() - began, cpu_s(child) - cpu
        assert decoded.duration_s >= segment_s - 0.1
        return wall_s, child_cpu_s, before, _peak_address_space(child)
    finally:
        decoder.close()
        path.unlink()


def decoder_children() -> set[int]:
    """Our spawned children (decoder children; multiprocessing's resource tracker is not spawned)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if parent == os.getpid() and b"spawn_main" in command:
            children.add(int(entry.name))
    return children


def cpu_s(pid: int) -> float:
    """User and system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_address_space(pid: int) -> int:
    """VmPeak of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmPeak:"):
            return int(line.split()[1]) << 10
    raise RuntimeError(f"no VmPeak for process {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, required=True, help="folder made by scripts/fetch_music.sh")
    parser.add_argument("--segment-s", type=float, default=Config().segment_s)
    parser.add_argument("--tracks", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--heaviest", action="store_true", help="also decode the heaviest accepted segment")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        config = Config.from_env({"TRACKSCAN_HOME": home, "TRACKSCAN_SEGMENT_S": str(args.segment_s)})
        deps = local_deps(config, model_threads=1)
        taggers = {v: local_tagger(replace(config, model_variant=v), threads=1) for v in VARIANTS}
        segments = first_segments(args.music, args.segment_s, args.tracks, deps)
        (child,) = decoder_children()  # started by ingest's probes
        for segment in segments:  # warm-up: numba, model compilation
            time_steps(segment, deps, taggers, child)
        times: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for _ in range(args.rounds):
            for segment in segments:
                for step, measured in time_steps(segment, deps, taggers, child).items():
                    times[step].append(measured)
        patches = [patch_count(s, deps) for s in segments]
        print(
            f"{len(segments)} segments of {args.segment_s:.0f} s ({patches} patches), {args.rounds} rounds, "
            f"one model thread; auto is {taggers['auto'].model_info().variant}\n"
        )
        print("| step | wall median (s) | wall min-max (s) | CPU median (s) | CPU max (s) |\n|---|---|---|---|---|")
        for step, pairs in times.items():
            wall, cpu = np.array(pairs).T  # (wall, CPU) pairs to two columns
            print(
                f"| {step} | {np.median(wall):.2f} | {wall.min():.2f}-{wall.max():.2f} "
                f"| {np.median(cpu):.2f} | {cpu.max():.2f} |"
            )
        if args.heaviest:
            print(
                f"\nheaviest segment ({args.segment_s:.0f} s, {MAX_CHANNELS} channels, {MAX_SAMPLE_RATE} Hz "
                f"16-bit WAV) in the sandbox; cap {config.decode_memory_bytes >> 20} MiB, decode timeout "
                f"{config.decode_timeout_s:g} s\n"
            )
            print(
                "| repetition | decode wall (s) | decoder CPU (s) | peak address space after probe / decode (MiB) |"
                "\n|---|---|---|---|"
            )
            for repetition in range(args.rounds):
                wall_s, cpu_s, before, peak = heaviest_segment(config, args.segment_s, Path(home))
                print(f"| {repetition + 1} | {wall_s:.2f} | {cpu_s:.2f} | {before >> 20} / {peak >> 20} |")


if __name__ == "__main__":
    main()
