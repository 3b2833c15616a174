"""Dollars per million 4-minute tracks: per path, and the levers that move them.

Prices come from prices.toml beside this module (each with its source and date), throughputs and
step times from cost_inputs.toml (each measured, derived or assumed, with its source), and the
operations a track costs (messages, requests, Firestore and Cloud Storage calls) are counted
from the pipeline's code as it is (see track_ops). The report is benchmarks/cost_model.py;
`trackscan backfill` prices its re-runs with ``per_million``.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PATCH_S = 187 * 256 / 16000  # 187 frames of 256 samples at 16 kHz: 2.992 s of audio a patch
PATCH_BYTES = 187 * 96 * 4  # one float32 patch in the features blob
PATCH_WIRE_BYTES = 187 * 96 * 2  # one patch as the model takes it (float16, front_end.PATCH_DTYPE): to Triton
PREDICTION_BYTES = (50 + 50 + 200) * 4  # scores and embedding of one patch
BLOB_OVERHEAD_BYTES = 4096  # npz headers, descriptors, model name (approximate)
READ_CHUNK_BYTES = 8 << 20  # GcsBlobStore's ranged read size, past WHOLE_READ_MAX_BYTES
WHOLE_READ_MAX_BYTES = 64 << 20  # GcsBlobStore reads a smaller object in one call
PUBSUB_MIN_BYTES = 1000
TIB = 1 << 40
MILLION = 1_000_000
PATHS = ("cloud-run-cpu", "amx-pool", "gpu", "pull-workers-amx")
PATH_TITLES = {
    "cloud-run-cpu": "CPU only: every step on Cloud Run, onnxruntime fp32 in the infer step",
    "amx-pool": "steps on Cloud Run, model on a spot C3 (AMX) pool, OpenVINO bf16",
    "gpu": "steps on Cloud Run, model on a spot GPU node (Triton)",
    "pull-workers-amx": "every step as pull workers on a spot C3 (AMX) pool, bf16 in process",
}


@dataclass(frozen=True)
class Inputs:
    """The figures one cost estimate rests on (cost_inputs.toml, plus the levers)."""

    figures: dict[str, float]
    memory_gib: dict[str, float]
    gpu: str = "h100"  # which GPU node the gpu path prices
    bytes_per_patch: float = PATCH_BYTES  # the features blob format (float32 .npz today)
    firestore_writes: int = 4  # create, EXTRACTING, INFERRING, DONE
    list_in_infer: bool = True  # infer lists the predictions to see whether a track of several segments is complete

    def __getattr__(self, name: str) -> float:
        if name == "figures":  # not set yet (copying): no recursion
            raise AttributeError(name)
        try:
            return self.figures[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class TrackOps:
    """What one track costs in operations, counted from the code (see track_ops)."""

    segments: int
    patches: int
    pubsub_messages: int
    run_requests: int
    firestore_writes: int
    firestore_reads: int
    gcs_class_a: int
    gcs_class_b: int
    work_bytes: float


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict."""
    with path.open("rb") as stream:
        return tomllib.load(stream)


def load_prices(path: Path = HERE / "prices.toml") -> dict[str, float]:
    """Price name -> value (the file also holds each price's unit, source and date)."""
    return {name: float(entry["value"]) for name, entry in load_toml(path).items()}


def load_inputs(path: Path = HERE / "cost_inputs.toml") -> Inputs:
    """The measured, derived and assumed figures."""
    raw = load_toml(path)
    memory = {step: float(gib) for step, gib in raw.pop("memory_gib")["value"].items()}
    return Inputs({name: float(entry["value"]) for name, entry in raw.items()}, memory)


def segment_count(track_s: float, segment_s: float) -> int:
    """Segments of a track as ingest plans them (a last piece under 5 s joins the one before)."""
    count = max(1, math.ceil(track_s / segment_s))
    return count - 1 if count > 1 and track_s - (count - 1) * segment_s < 5.0 else count


def track_ops(inputs: Inputs) -> TrackOps:
    """Operations per track, counted from the handlers and the cloud adapters.

    Pub/Sub: the upload notification, one segment and one features-ready message per segment,
    one track-inferred. Firestore: reads of the record in features, infer and finalize, and
    each transition's transaction (a read and a write). Cloud Storage Class A: the upload, a
    features and a predictions blob per segment, and infer's listing per segment of a track of
    several (finalize deletes the blobs by name: deletes are free). Class B: metadata gets before
    every read and write-if-absent, the whole-blob reads, and the decoder's ranged reads of the
    source.
    """
    s = segment_count(inputs.track_s, inputs.segment_s)
    patches_per_segment = int(inputs.segment_s / PATCH_S) if s > 1 else int(inputs.track_s / PATCH_S)
    source_bytes = inputs.track_s * inputs.source_bytes_per_s
    ranged = math.ceil(inputs.segment_s * inputs.source_bytes_per_s / READ_CHUNK_BYTES) + 1
    segment_reads = 1 if source_bytes <= WHOLE_READ_MAX_BYTES else ranged  # GcsBlobStore.open_read
    messages = 2 * s + 2
    features_bytes = patches_per_segment * inputs.bytes_per_patch + BLOB_OVERHEAD_BYTES
    predictions_bytes = patches_per_segment * PREDICTION_BYTES + BLOB_OVERHEAD_BYTES
    return TrackOps(
        segments=s,
        patches=s * patches_per_segment,
        pubsub_messages=messages,
        run_requests=messages,
        firestore_writes=inputs.firestore_writes,
        firestore_reads=2 * s + 4,
        gcs_class_a=1 + 2 * s + (s if inputs.list_in_infer and s > 1 else 0),
        # probe: stat, reload, header; per segment: features stat, decode (stat, reload, ranged
        # reads), infer stat and features read (stat, get), finalize reads of both blobs.
        gcs_class_b=3 + s * (1 + 2 + segment_reads + 1 + 2 + 4),
        work_bytes=s * (features_bytes + predictions_bytes),
    )


def step_seconds(inputs: Inputs, path: str) -> dict[str, float]:
    """Wall seconds per track each step keeps an instance busy (what request billing charges)."""
    ops = track_ops(inputs)
    per_segment = ops.patches / ops.segments
    model_wait = {
        "cloud-run-cpu": per_segment * inputs.cpu_fp32_vcpu_s_per_patch,
        "amx-pool": per_segment * inputs.amx_bf16_vcpu_s_per_patch / inputs.amx_request_threads,
        "gpu": inputs.gpu_request_s,
        "pull-workers-amx": per_segment * inputs.amx_bf16_vcpu_s_per_patch,
    }[path]
    audio_min = inputs.track_s / 60.0
    return {
        "ingest": inputs.ingest_s,
        "features": ops.segments * inputs.features_fixed_s + audio_min * inputs.features_s_per_audio_min,
        "infer": ops.segments * (inputs.infer_fixed_s + model_wait),
        "finalize": inputs.finalize_s,
    }


def pool_vcpu_hour(prices: dict[str, float], inputs: Inputs) -> float:
    """A spot C3 vCPU-hour with its share of memory."""
    return prices["spot_c3_vcpu_hour"] + inputs.pool_gib_per_vcpu * prices["spot_c3_gib_hour"]


def gpu_node(prices: dict[str, float], inputs: Inputs) -> tuple[float, float]:
    """($ per node-hour, patches/s) of the GPU node the gpu path prices."""
    if inputs.gpu == "l4":
        return prices["spot_g2_standard_4_hour"] + prices["spot_l4_gpu_hour"], inputs.gpu_l4_patches_per_s
    return prices["spot_a3_highgpu_1g_hour"] + prices["spot_h100_gpu_hour"], inputs.gpu_h100_patches_per_s


def compute_cost(inputs: Inputs, prices: dict[str, float], path: str) -> dict[str, float]:
    """Compute dollars per track: Cloud Run instance time, or pool time, plus the model's node."""
    seconds = step_seconds(inputs, path)
    ops = track_ops(inputs)
    if path == "pull-workers-amx":
        busy_s = sum(seconds.values())
        return {"steps on the spot pool": busy_s / 3600 * pool_vcpu_hour(prices, inputs) / inputs.pool_utilisation}
    run_rate = {
        step: prices["cloud_run_vcpu_s"] + inputs.memory_gib[step] * prices["cloud_run_gib_s"] for step in seconds
    }
    cost = {f"Cloud Run {step}": seconds[step] * run_rate[step] for step in seconds}
    if path == "amx-pool":
        vcpu_s = ops.patches * inputs.amx_bf16_vcpu_s_per_patch
        cost["model on the spot C3 pool"] = vcpu_s / 3600 * pool_vcpu_hour(prices, inputs) / inputs.pool_utilisation
    elif path == "gpu":
        node_hour, patches_per_s = gpu_node(prices, inputs)
        cost[f"model on a spot {inputs.gpu.upper()} node"] = (
            ops.patches / patches_per_s / 3600 * node_hour / inputs.pool_utilisation
        )
    return cost


def operations_cost(inputs: Inputs, prices: dict[str, float], path: str) -> dict[str, float]:
    """Dollars per track for messages, requests, Firestore and Cloud Storage."""
    ops = track_ops(inputs)
    requests = 0 if path == "pull-workers-amx" else ops.run_requests
    storage_gib_month = ops.work_bytes / (1 << 30) * inputs.work_residence_h / (24 * 30)
    return {
        "Cloud Run requests": requests * prices["cloud_run_request"],
        # Published once and delivered once, each at least 1,000 bytes.
        "Pub/Sub": 2 * ops.pubsub_messages * PUBSUB_MIN_BYTES / TIB * prices["pubsub_tib"],
        "Firestore writes": ops.firestore_writes * prices["firestore_write"],
        "Firestore reads": ops.firestore_reads * prices["firestore_read"],
        "GCS Class A": ops.gcs_class_a * prices["gcs_class_a"],
        "GCS Class B": ops.gcs_class_b * prices["gcs_class_b"],
        "GCS storage of work blobs": storage_gib_month * prices["gcs_standard_gib_month"],
    }


def per_million(inputs: Inputs, prices: dict[str, float], path: str) -> dict[str, float]:
    """Every cost item of a path in dollars per million tracks."""
    items = {**compute_cost(inputs, prices, path), **operations_cost(inputs, prices, path)}
    return {name: value * MILLION for name, value in items.items()}


def gpu_throughput_from_sweep(path: Path) -> float:
    """The best patches/s a bench_triton_gpu.py sweep proposed."""
    return float(json.loads(path.read_text())["proposal"]["best_patches_per_s"])


LEVERS: list[tuple[str, str, dict[str, Any]]] = [
    ("segment length", "30 s", {"segment_s": 30.0}),
    ("segment length", "60 s", {"segment_s": 60.0}),
    ("segment length", "120 s", {"segment_s": 120.0}),
    ("segment length", "300 s (today: one segment)", {}),
    ("infer's listing", "none, at 120 s", {"segment_s": 120.0, "list_in_infer": False}),
    ("features blob", "float16 patches", {"bytes_per_patch": PATCH_BYTES / 2}),
    ("Firestore writes", "3 (no INFERRING)", {"firestore_writes": 3}),
]


def with_lever(inputs: Inputs, change: dict[str, Any]) -> Inputs:
    """The inputs with one lever moved (figures or the format and counting fields)."""
    figures = {k: v for k, v in change.items() if k in inputs.figures}
    fields = {k: v for k, v in change.items() if k not in inputs.figures}
    return replace(inputs, figures={**inputs.figures, **figures}, **fields)


def longest_step_s(inputs: Inputs) -> float:
    """The longest single invocation on the CPU-only path: a features or an infer step."""
    ops = track_ops(inputs)
    segment_min = min(inputs.segment_s, inputs.track_s) / 60.0
    features = inputs.features_fixed_s + segment_min * inputs.features_s_per_audio_min
    infer = inputs.infer_fixed_s + ops.patches / ops.segments * inputs.cpu_fp32_vcpu_s_per_patch
    return max(features, infer)
