"""Triton servers for the sweep: PyTriton (inference/triton_local.py) or a real tritonserver.

Each starts on free ports in its own process group and is stopped with SIGINT, then SIGKILL.
Imports only the standard library and numpy at module level (see triton_load.py for why).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.triton_load import OUTPUT_SHAPES, patches_like_log_mel

REPO_ROOT = Path(__file__).resolve().parents[1]
TRITON_LOCAL = REPO_ROOT / "inference" / "triton_local.py"
TRITON_VENV_PYTHON = REPO_ROOT / ".venv-triton" / "bin" / "python"
READY_TIMEOUT_S = 240.0  # a cold GPU start: torch import, onnx2torch, CUDA context
STOP_GRACE_S = 15.0
ACCESS_TOKEN_ENV = "TRITON_LOCAL_ACCESS_TOKEN"  # as inference/triton_local.py reads it


@dataclass(frozen=True)
class ServerSettings:
    """One server configuration of the sweep."""

    instances: int
    queue_delay_us: int
    max_batch_size: int
    device: str  # "cpu" or "cuda"
    precision: str  # "fp16" or "fp32" (cuda only)
    tensorrt: bool  # tritonserver on cuda only


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def variant_config(settings: ServerSettings, model_name: str = "musicnn") -> str:
    """config.pbtxt for a real tritonserver: the committed model's tensors with these settings."""
    on_gpu = settings.device == "cuda"
    accelerator = ""
    if on_gpu and settings.tensorrt:
        precision = "FP16" if settings.precision == "fp16" else "FP32"
        accelerator = (
            'optimization { execution_accelerators { gpu_execution_accelerator: [ { name: "tensorrt"\n'
            f'  parameters {{ key: "precision_mode" value: "{precision}" }}\n'
            '  parameters { key: "max_workspace_size_bytes" value: "4294967296" } } ] } }\n'
        )
    outputs = ",\n".join(
        f'  {{ name: "{name}", data_type: TYPE_FP32, dims: [ {shape[0]} ] }}' for name, shape in OUTPUT_SHAPES.items()
    )
    return (
        f'name: "{model_name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {settings.max_batch_size}\n'
        'input [\n  { name: "patches", data_type: TYPE_FP16, dims: [ 187, 96 ] }\n]\n'
        f"output [\n{outputs}\n]\n"
        f"dynamic_batching {{\n  max_queue_delay_microseconds: {settings.queue_delay_us}\n}}\n"
        f"instance_group [\n  {{ kind: {'KIND_GPU' if on_gpu else 'KIND_CPU'}, count: {settings.instances} }}\n]\n"
        + accelerator
    )


def _pytriton_argv(settings: ServerSettings, args: argparse.Namespace, grpc: int, http: int) -> list[str]:
    python = args.server_python or (str(TRITON_VENV_PYTHON) if TRITON_VENV_PYTHON.exists() else sys.executable)
    return [
        python,
        str(TRITON_LOCAL),
        "--grpc-port",
        str(grpc),
        "--http-port",
        str(http),
        "--model-path",
        str(args.model_path),
        "--model-name",
        args.model_name,
        "--max-batch-size",
        str(settings.max_batch_size),
        "--max-queue-delay-us",
        str(settings.queue_delay_us),
        "--instances",
        str(settings.instances),
        "--device",
        settings.device,
        "--precision",
        settings.precision,
    ]


def _tritonserver_argv(
    settings: ServerSettings, args: argparse.Namespace, grpc: int, http: int, repository: Path
) -> list[str]:
    model_dir = repository / args.model_name
    (model_dir / "1").mkdir(parents=True)
    shutil.copy(args.model_path, model_dir / "1" / "model.onnx")
    (model_dir / "config.pbtxt").write_text(variant_config(settings, args.model_name))
    return [
        args.tritonserver,
        f"--model-repository={repository}",
        f"--grpc-port={grpc}",
        f"--http-port={http}",
        f"--metrics-port={free_port()}",
        "--exit-timeout-secs=5",
    ]


@contextmanager
def running_server(settings: ServerSettings, args: argparse.Namespace) -> Iterator[tuple[str, dict[str, str]]]:
    """Starts the server, waits until the model is ready, then stops it.

    Yields:
        The gRPC URL and the headers that open its statistics endpoint (PyTriton guards it).
    """
    grpc, http = free_port(), free_port()
    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="triton-sweep-") as workdir:
        argv = (
            _tritonserver_argv(settings, args, grpc, http, Path(workdir) / "models")
            if args.tritonserver
            else _pytriton_argv(settings, args, grpc, http)
        )
        log_path = Path(workdir) / "server.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=REPO_ROOT,
                env={**os.environ, ACCESS_TOKEN_ENV: token},
            )
        url = f"127.0.0.1:{grpc}"
        try:
            _wait_ready(url, args.model_name, server, log_path)
            yield url, {"triton-grpc-protocol-triton-access-token": token}
        finally:
            _stop(server)


def _wait_ready(url: str, model_name: str, server: subprocess.Popen, log_path: Path) -> None:
    from tritonclient import grpc as triton_grpc

    client = triton_grpc.InferenceServerClient(url)
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"Triton exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if client.is_model_ready(model_name):
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            time.sleep(0.25)
    finally:
        client.close()
    raise TimeoutError(f"Triton not ready in {READY_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)  # triton_local.py drains on SIGTERM, as the dev stack stops it
    try:
        server.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def agreement_with_onnx(url: str, model_name: str, model_path: Path) -> dict[str, float] | None:
    """Max abs difference per output between the server and onnxruntime fp32 here, on 8 patches.

    None where onnxruntime is not installed in this interpreter.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    from tritonclient import grpc as triton_grpc

    patches = patches_like_log_mel(8, seed=7)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"patches": patches}), strict=True))
    client = triton_grpc.InferenceServerClient(url)
    try:
        request = triton_grpc.InferInput("patches", list(patches.shape), "FP16")
        request.set_data_from_numpy(patches)
        response = client.infer(
            model_name, [request], outputs=[triton_grpc.InferRequestedOutput(n) for n in OUTPUT_SHAPES]
        )
    finally:
        client.close()
    return {name: float(np.max(np.abs(response.as_numpy(name) - expected[name]))) for name in OUTPUT_SHAPES}
