"""The Triton sweep benchmark (benchmarks/bench_triton_gpu.py) against a real local Triton on CPU.

A tiny sweep, so the script a lent GPU machine runs is known to work end to end here: the
server starts, every request gets outputs of the model's shapes, and the JSON has its shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bench_triton_gpu
from benchmarks.triton_servers import TRITON_VENV_PYTHON

POINT_KEYS = {
    "instances",
    "queue_delay_us",
    "patches_per_request",
    "concurrency",
    "requests",
    "good_outputs",
    "bad_outputs",
    "errors",
    "patches_per_s",
    "p50_ms",
    "p99_ms",
    "patches_per_model_call",
    "gpu_util_percent",
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not TRITON_VENV_PYTHON.exists():
        reason = f"{TRITON_VENV_PYTHON} is missing: make triton-venv"
        print(reason)
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("sweep") / "sweep.json"
    argv = [
        "--preset",
        "cpu",
        "--batches",
        "1,4",
        "--concurrency",
        "2",
        "--duration-s",
        "3",
        "--max-requests",
        "2",
        "--processes",
        "1",
        "--check-onnx",
        "--out",
        str(out),
    ]
    assert bench_triton_gpu.main(argv) == 0
    return json.loads(Path(out).read_text())


def test_bench_triton_gpu_answers_every_request_with_model_shapes_when_run_on_cpu(sweep):
    points = sweep["sweep"]
    assert [(p["patches_per_request"], p["concurrency"]) for p in points] == [(1, 1), (4, 1), (4, 2)]
    for p in points:
        assert set(p) == POINT_KEYS
        assert p["requests"] > 0 and p["good_outputs"] == p["requests"]
        assert p["bad_outputs"] == 0 and p["errors"] == []
        assert p["patches_per_s"] > 0 and 0 < p["p50_ms"] <= p["p99_ms"]
        assert p["gpu_util_percent"] is None  # no GPU here: the table says n/a


def test_bench_triton_gpu_reports_what_the_batcher_did_when_run_on_cpu(sweep):
    single_client = [p for p in sweep["sweep"] if p["concurrency"] == 1]
    # One client at a time: every model call holds exactly that client's request.
    assert [p["patches_per_model_call"] for p in single_client] == [1.0, 4.0]
    assert sweep["sweep"][-1]["patches_per_model_call"] >= 4.0


def test_bench_triton_gpu_writes_a_proposal_and_provenance_when_run_on_cpu(sweep):
    assert sweep["server"] == {"kind": "pytriton", "device": "cpu", "precision": "fp32", "tensorrt": False}
    assert sweep["machine"]["gpu"] is None
    proposal = sweep["proposal"]
    assert proposal["instances"] == 1
    assert set(proposal["preferred_batch_sizes"]) <= {1, 4}
    assert 100 <= proposal["max_queue_delay_us"] <= bench_triton_gpu.MAX_QUEUE_DELAY_CAP_US
    assert all(diff < 1e-4 for diff in sweep["agreement_with_onnx_fp32"].values())
