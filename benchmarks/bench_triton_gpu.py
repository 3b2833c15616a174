"""Triton sweep for the musicnn model: patches/s, p50/p99 latency and GPU utilisation.

Starts Triton, sweeps client concurrency and patches per request over gRPC (tritonclient, the
same calls as the infer step's TritonTagger), and writes a JSON file of results and a Markdown
table. From the sweep it proposes config.pbtxt's instance count, preferred batch sizes and
max queue delay (the proposal says what each figure rests on).

Two servers:
  * PyTriton (default): inference/triton_local.py in its own process. Where nvidia-smi lists a
    GPU the model runs in PyTorch on it, fp16 (--precision fp32 to compare); else onnxruntime
    on the CPU. This is what the tests and a lent GPU machine run.
  * A real tritonserver (--tritonserver PATH, e.g. in the NGC container): a copy of the model
    repository with a variant config.pbtxt; on a GPU the onnxruntime backend's TensorRT
    accelerator in fp16 (--no-tensorrt for plain CUDA). Not run here: no such machine yet.

On the lent H200 (Python 3.12 with torch and numpy, no network). Once, on the development
machine: `scripts/prepare_gpu_bench.sh` (wheels for PyTriton, tritonclient and onnx2torch into
.gpu-bench/, and the model). Then one command, carrying .gpu-bench, with about 5 minutes of
device time (starts count extra):

    bash scripts/run_gpu_bench.sh      # writes $OUT/triton_gpu.json and $OUT/triton_gpu.md

(Not yet runnable there: PyTriton 0.7.0 gives empty outputs under numpy 2.x; see BENCHMARKS.md.)

Here, on the CPU (a few seconds a point):

    python -m benchmarks.bench_triton_gpu --preset cpu --out triton_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.triton_load import GpuSampler, Load, drive, gpu_present, percentile_ms, settled_counts
from benchmarks.triton_servers import ServerSettings, agreement_with_onnx, running_server

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_PATH = REPO_ROOT / "inference" / "model_repository" / "musicnn" / "1" / "model.onnx"
# A 120 s segment (the default TRACKSCAN_SEGMENT_S): one request of the infer step when
# TRACKSCAN_INFER_BATCH_PATCHES holds a whole segment.
SEGMENT_PATCHES = 40
# Presets: (patches per request at concurrency 1, concurrencies at SEGMENT_PATCHES, instances,
# queue delays in µs, seconds a point). Sized so `gpu` fits a few minutes of device time.
PRESETS = {
    "cpu": ("1,8,20", "1,2,4", "1", "1000", 4.0),
    "gpu": ("1,8,20,64,128,256", "4,16,64", "1,2", "500,2000", 2.0),
}
MAX_QUEUE_DELAY_CAP_US = 5000  # a derived delay never exceeds 5 ms: latency is cheap, not free
NEAR_BEST = 0.95  # within 5 % of the best throughput counts as as good
KNEE = 0.90  # the smallest batch reaching 90 % of the best single-client throughput


@dataclass(frozen=True)
class PointResult:
    """One measured point of the sweep."""

    instances: int
    queue_delay_us: int
    patches_per_request: int
    concurrency: int
    requests: int
    good_outputs: int
    bad_outputs: int
    errors: list[str]
    patches_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    patches_per_model_call: float | None
    gpu_util_percent: float | None


def measure(
    server: tuple[str, dict[str, str]], settings: ServerSettings, batch: int, concurrency: int, args: argparse.Namespace
) -> PointResult:
    """Runs one point: the load for its duration, Triton's counters and the GPU samples around it."""
    url, headers = server
    load = Load(url, args.model_name, batch, concurrency, args.duration_s, args.max_requests, args.processes)
    before = settled_counts(url, args.model_name, headers)  # the calls before it, the agreement check's too
    with GpuSampler() as gpu:
        tally = drive(load)
    timed = len(tally.latencies_s)
    # Every timed request and each client's warm-up, all counted before the next point starts.
    after = settled_counts(url, args.model_name, headers, before[0] + (timed + concurrency) * batch)
    inferences, executions = after[0] - before[0], after[1] - before[1]
    return PointResult(
        instances=settings.instances,
        queue_delay_us=settings.queue_delay_us,
        patches_per_request=batch,
        concurrency=concurrency,
        requests=timed,
        good_outputs=tally.good_outputs,
        bad_outputs=tally.bad_outputs,
        errors=tally.errors[:5],
        patches_per_s=round(timed * batch / tally.wall_s, 1) if tally.wall_s else 0.0,
        p50_ms=percentile_ms(tally.latencies_s, 50),
        p99_ms=percentile_ms(tally.latencies_s, 99),
        # Warm-up requests count here too: the ratio is what the batcher did, not a rate.
        patches_per_model_call=round(inferences / executions, 1) if executions else None,
        gpu_util_percent=gpu.mean_percent(),
    )


def sweep_points(batches: list[int], concurrencies: list[int], max_batch: int) -> list[tuple[int, int]]:
    """(patches per request, concurrency): the batch curve at one client, then the segment size
    (or the largest batch below it) under growing concurrency, where the dynamic batcher works."""
    curve = [(b, 1) for b in batches if b <= max_batch]
    segment = min(SEGMENT_PATCHES, max(b for b, _ in curve))
    return curve + [(segment, c) for c in concurrencies if (segment, c) not in curve]


def propose(results: list[PointResult], sla_p99_ms: float) -> dict[str, object]:
    """Instance count, preferred batch sizes and queue delay from the sweep, each with its basis."""
    ok = [r for r in results if r.requests and not r.bad_outputs and (r.p99_ms or 0) <= sla_p99_ms] or results
    best = max(r.patches_per_s for r in ok)
    good = [r for r in ok if r.patches_per_s >= NEAR_BEST * best]
    chosen = min(good, key=lambda r: (r.instances, r.queue_delay_us, r.concurrency))
    curve = [
        r
        for r in ok
        if r.concurrency == 1 and r.instances == chosen.instances and r.queue_delay_us == chosen.queue_delay_us
    ]
    curve_best = max(curve, key=lambda r: r.patches_per_s)
    knee = min(
        (r for r in curve if r.patches_per_s >= KNEE * curve_best.patches_per_s), key=lambda r: r.patches_per_request
    )
    preferred = sorted({knee.patches_per_request, curve_best.patches_per_request})
    delays = {r.queue_delay_us for r in results}
    if len(delays) > 1:
        delay = chosen.queue_delay_us
        delay_basis = f"the smallest swept delay within 5 % of the best ({sorted(delays)})"
    else:
        # One delay swept: wait at most half of one knee-sized model call, so waiting never
        # costs more latency than the batching it buys, and never over the cap.
        delay = min(MAX_QUEUE_DELAY_CAP_US, max(100, int(round((knee.p50_ms or 0) * 1000 / 2, -2))))
        delay_basis = (
            f"half the p50 of a {knee.patches_per_request}-patch call at one client ({knee.p50_ms} ms),"
            f" at most {MAX_QUEUE_DELAY_CAP_US} µs"
        )
    return {
        "instances": chosen.instances,
        "instances_basis": f"fewest instances within 5 % of the best {best} patches/s",
        "preferred_batch_sizes": preferred,
        "preferred_basis": f"smallest batch at >= 90 % of the best single-client rate ({knee.patches_per_request}),"
        f" and the best ({curve_best.patches_per_request})",
        "max_queue_delay_us": delay,
        "queue_delay_basis": delay_basis,
        "best_patches_per_s": best,
        "best_point": asdict(chosen),
    }


def run_sweep(args: argparse.Namespace) -> dict[str, object]:
    """Every server configuration in turn, every point on each; the report as a dict."""
    on_gpu = args.device == "cuda"
    results: list[PointResult] = []
    agreement = None
    for instances in args.instances:
        for delay in args.queue_delays_us:
            settings = ServerSettings(
                instances, delay, args.max_batch_size, args.device, args.precision, not args.no_tensorrt
            )
            with running_server(settings, args) as server:
                if agreement is None and args.check_onnx:
                    agreement = agreement_with_onnx(server[0], args.model_name, args.model_path)
                for batch, concurrency in sweep_points(args.batches, args.concurrency, args.max_batch_size):
                    results.append(measure(server, settings, batch, concurrency, args))
                    print(_row(results[-1]), file=sys.stderr, flush=True)
                    # Kept current, so a run stopped at its time limit still leaves its points.
                    args.out.write_text(json.dumps({"partial": True, "sweep": [asdict(r) for r in results]}))
    return {
        "machine": machine(on_gpu),
        "date": time.strftime("%Y-%m-%d"),
        "server": {
            "kind": "tritonserver" if args.tritonserver else "pytriton",
            "device": args.device,
            "precision": args.precision if on_gpu else "fp32",
            "tensorrt": bool(args.tritonserver and on_gpu and not args.no_tensorrt),
        },
        "agreement_with_onnx_fp32": agreement,
        "sweep": [asdict(r) for r in results],
        "proposal": propose(results, args.sla_p99_ms),
    }


def machine(on_gpu: bool) -> dict[str, object]:
    """What ran the sweep: CPU, cores, GPU name (nvidia-smi) and Python."""
    gpu = None
    if on_gpu:
        import subprocess

        gpu = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or None
        )
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "gpu": gpu,
        "python": platform.python_version(),
    }


HEADER = (
    "| instances | queue µs | patches/request | clients | requests | patches/s | p50 ms | p99 ms "
    "| patches/model call | GPU util % |\n|---|---|---|---|---|---|---|---|---|---|"
)


def _row(r: PointResult) -> str:
    def show(value: object) -> str:
        return "n/a" if value is None else str(value)

    return (
        f"| {r.instances} | {r.queue_delay_us} | {r.patches_per_request} | {r.concurrency} | {r.requests} "
        f"| {r.patches_per_s} | {show(r.p50_ms)} | {show(r.p99_ms)} | {show(r.patches_per_model_call)} "
        f"| {show(r.gpu_util_percent)} |"
    )


def markdown(report: dict[str, object]) -> str:
    """The sweep as a Markdown table, with the proposal under it."""
    rows = [_row(PointResult(**point)) for point in report["sweep"]]  # type: ignore[attr-defined]
    proposal = report["proposal"]
    lines = [
        f"Triton sweep, {report['date']}, server {report['server']}, machine {report['machine']}",
        "",
        HEADER,
        *rows,
        "",
        "Proposed config.pbtxt settings:",
    ]
    lines += [f"- {key}: {value}" for key, value in proposal.items() if key != "best_point"]  # type: ignore[union-attr]
    if report.get("agreement_with_onnx_fp32"):
        lines.append(f"- agreement with onnxruntime fp32 (max abs diff): {report['agreement_with_onnx_fp32']}")
    return "\n".join(lines) + "\n"


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options; --preset fills the sweep's shape (cpu here, gpu where nvidia-smi lists a GPU)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="default: gpu where a GPU is present, else cpu")
    parser.add_argument("--batches", type=_ints, help="patches per request at one client, e.g. 1,8,20")
    parser.add_argument("--concurrency", type=_ints, help="clients at the segment's request size, e.g. 2,4")
    parser.add_argument("--instances", type=_ints, help="model instances to try, e.g. 1,2")
    parser.add_argument("--queue-delays-us", type=_ints, help="dynamic batcher delays to try, e.g. 500,2000")
    parser.add_argument("--duration-s", type=float, help="timed seconds a point")
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=256,
        help="the server's: what the dynamic batcher may merge requests up to",
    )
    parser.add_argument("--max-requests", type=int, default=0, help="requests a client sends at most (0: no limit)")
    parser.add_argument(
        "--processes",
        type=int,
        default=max(1, min(8, (os.cpu_count() or 2) // 2)),
        help="client processes (one Python process cannot feed a fast GPU)",
    )
    parser.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="on a GPU")
    parser.add_argument("--sla-p99-ms", type=float, default=1000.0, help="points slower at p99 are not proposed")
    parser.add_argument("--model-path", type=Path, default=MODEL_PATH)
    parser.add_argument("--model-name", default="musicnn")
    parser.add_argument(
        "--server-python", help="interpreter for triton_local.py (default: .venv-triton's, else this one)"
    )
    parser.add_argument("--tritonserver", help="a tritonserver binary (onnxruntime backend) instead of PyTriton")
    parser.add_argument("--no-tensorrt", action="store_true", help="with --tritonserver on a GPU: CUDA only")
    parser.add_argument("--check-onnx", action="store_true", help="compare one batch with onnxruntime fp32 here")
    parser.add_argument("--out", type=Path, default=Path("triton_sweep.json"))
    parser.add_argument("--table", type=Path, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    args.device = "cuda" if gpu_present() else "cpu"
    preset = args.preset or ("gpu" if args.device == "cuda" else "cpu")
    batches, concurrency, instances, delays, duration = PRESETS[preset]
    args.batches = args.batches or _ints(batches)
    args.concurrency = args.concurrency or _ints(concurrency)
    args.instances = args.instances or _ints(instances)
    args.queue_delays_us = args.queue_delays_us or _ints(delays)
    args.duration_s = args.duration_s or duration
    return args


def main(argv: list[str] | None = None) -> int:
    """Runs the sweep, writes the JSON (and the table), prints the table."""
    args = parse_args(argv)
    if not args.model_path.is_file():
        print(f"No model at {args.model_path}: build it with `make model`.", file=sys.stderr)
        return 2
    started = time.perf_counter()
    report = run_sweep(args)
    report["sweep_wall_s"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    if args.table:
        args.table.write_text(table)
    print(table)
    bad = sum(p["bad_outputs"] + len(p["errors"]) for p in report["sweep"])  # type: ignore[index,union-attr]
    print(
        f"{len(report['sweep'])} points, median {statistics.median(p['patches_per_s'] for p in report['sweep'])}"  # type: ignore[union-attr,index]
        f" patches/s, {bad} bad outputs or errors, {report['sweep_wall_s']} s",
        file=sys.stderr,
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
