"""Client load for the Triton sweep: concurrent gRPC requests, server statistics, GPU utilisation.

Imports only numpy and tritonclient (and pynvml when present), so it runs in any interpreter that
has those, the bare Python of a lent GPU machine included. Used by bench_triton_gpu.py.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

import numpy as np

PATCH_FRAMES, MEL_BANDS = 187, 96
OUTPUT_SHAPES = {"mtt_scores": (50,), "msd_scores": (50,), "embedding": (200,)}
GPU_SAMPLE_S = 0.2


@dataclass(frozen=True)
class Load:
    """One point of the sweep as the clients see it."""

    url: str
    model_name: str
    patches_per_request: int
    concurrency: int
    duration_s: float
    max_requests_per_client: int  # 0: no limit, the duration alone ends the point
    processes: int = 1  # client processes; threads share the rest of the concurrency


@dataclass
class ClientTally:
    """What one client process saw: latencies of the timed requests and output shape checks."""

    latencies_s: list[float] = field(default_factory=list)
    good_outputs: int = 0
    bad_outputs: int = 0
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def merge(self, other: ClientTally) -> None:
        """Adds another process's tally to this one (wall time: the longest)."""
        self.latencies_s += other.latencies_s
        self.good_outputs += other.good_outputs
        self.bad_outputs += other.bad_outputs
        self.errors += other.errors
        self.wall_s = max(self.wall_s, other.wall_s)


def patches_like_log_mel(count: int, seed: int = 0) -> np.ndarray:
    """Deterministic [count, 187, 96] float16 input (the model's) in the range of log10(10000 * mel + 1)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 4.0, size=(count, PATCH_FRAMES, MEL_BANDS)).astype(np.float16)


def outputs_have_shapes(response: object, patches: int) -> bool:
    """Whether a response holds every output with the model's shape for `patches` inputs."""
    for name, shape in OUTPUT_SHAPES.items():
        value = response.as_numpy(name)  # type: ignore[attr-defined]
        if value is None or value.shape != (patches, *shape) or not np.all(np.isfinite(value)):
            return False
    return True


def _one_client(load: Load, seed: int, start: threading.Barrier, tally: ClientTally, lock: threading.Lock) -> None:
    from tritonclient import grpc as triton_grpc

    client = triton_grpc.InferenceServerClient(load.url)
    request = triton_grpc.InferInput("patches", [load.patches_per_request, PATCH_FRAMES, MEL_BANDS], "FP16")
    request.set_data_from_numpy(patches_like_log_mel(load.patches_per_request, seed))
    outputs = [triton_grpc.InferRequestedOutput(name) for name in OUTPUT_SHAPES]
    own = ClientTally()
    try:
        client.infer(load.model_name, [request], outputs=outputs)  # warm-up (cuDNN picks kernels), not timed
        start.wait()
        deadline = time.perf_counter() + load.duration_s
        while time.perf_counter() < deadline and (
            not load.max_requests_per_client or len(own.latencies_s) < load.max_requests_per_client
        ):
            sent = time.perf_counter()
            response = client.infer(load.model_name, [request], outputs=outputs)
            own.latencies_s.append(time.perf_counter() - sent)
            if outputs_have_shapes(response, load.patches_per_request):
                own.good_outputs += 1
            else:
                own.bad_outputs += 1
    except Exception as exc:  # noqa: BLE001 - a failed request is a result of the benchmark, reported
        own.errors.append(f"{type(exc).__name__}: {exc}"[:300])
        start.abort()
    finally:
        client.close()
    with lock:
        tally.merge(own)


def run_clients(load: Load, threads: int, seed: int) -> ClientTally:
    """Runs `threads` clients in this process; each sends one request at a time."""
    tally, lock = ClientTally(), threading.Lock()
    start = threading.Barrier(threads + 1)
    workers = [threading.Thread(target=_one_client, args=(load, seed + i, start, tally, lock)) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        start.wait(timeout=120)
    except threading.BrokenBarrierError:
        pass  # a client failed its warm-up: its error is in the tally
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    tally.wall_s = time.perf_counter() - began
    return tally


def drive(load: Load) -> ClientTally:
    """Sends the load, from several processes when asked (one Python process tops out on gRPC)."""
    processes = max(1, min(load.processes, load.concurrency))
    shares = [load.concurrency // processes + (1 if i < load.concurrency % processes else 0) for i in range(processes)]
    if processes == 1:
        return run_clients(load, shares[0], seed=1)
    total = ClientTally()
    context = multiprocessing.get_context("spawn")  # gRPC does not survive fork
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
        futures = [pool.submit(run_clients, load, share, 1000 * (i + 1)) for i, share in enumerate(shares)]
        for future in futures:
            total.merge(future.result())
    return total


def percentile_ms(latencies_s: list[float], q: float) -> float | None:
    """The q-th percentile of the latencies in milliseconds, None without any."""
    return round(float(np.percentile(latencies_s, q)) * 1000, 2) if latencies_s else None


def settled_counts(
    url: str, model_name: str, headers: dict[str, str], inferences_at_least: int = 0, timeout_s: float = 5.0
) -> tuple[int, int]:
    """model_counts once they reach inferences_at_least and hold still for 50 ms (or after timeout_s).

    Triton may count a call just after answering it: read at once, a point's last call would be
    counted in the next point's window (seen: 3.2 patches a call where every call held 4).
    """
    deadline = time.monotonic() + timeout_s
    counts = model_counts(url, model_name, headers)
    while time.monotonic() < deadline:
        time.sleep(0.05)
        previous, counts = counts, model_counts(url, model_name, headers)
        if counts == previous and counts[0] >= inferences_at_least:
            break
    return counts


def model_counts(url: str, model_name: str, headers: dict[str, str]) -> tuple[int, int]:
    """(inferences, executions) Triton counted for the model so far: patches and model calls."""
    from tritonclient import grpc as triton_grpc

    client = triton_grpc.InferenceServerClient(url)
    try:
        stats = client.get_inference_statistics(model_name, headers=headers, as_json=True)
    finally:
        client.close()
    model = stats["model_stats"][0]
    return int(model.get("inference_count", 0)), int(model.get("execution_count", 0))


def gpu_present() -> bool:
    """Whether nvidia-smi lists a GPU on this machine."""
    if shutil.which("nvidia-smi") is None:
        return False
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return listed.returncode == 0 and "GPU" in listed.stdout


class GpuSampler:
    """Samples GPU 0's utilisation every 0.2 s in a thread (pynvml, else nvidia-smi)."""

    def __init__(self) -> None:
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = self._reader()

    @staticmethod
    def _reader():  # type: ignore[no-untyped-def]
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # noqa: BLE001 - no NVML: fall back to nvidia-smi, or to no GPU at all
            if not gpu_present():
                return None
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"]
        return lambda: float(subprocess.run(query, capture_output=True, text=True, check=True).stdout.split()[0])

    def __enter__(self) -> GpuSampler:
        if self._read is not None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(GPU_SAMPLE_S):
            self._samples.append(self._read())  # type: ignore[misc]

    def mean_percent(self) -> float | None:
        """Mean utilisation over the samples; None where there is no GPU (printed as n/a)."""
        return round(sum(self._samples) / len(self._samples), 1) if self._samples else None
