"""Tagger running the musicnn ONNX model in process with OpenVINO, in fp32 or bf16.

bf16 halves the bytes every multiply reads and runs on the CPU's bf16 units (AMX on recent
Xeons, AVX512_BF16 on Zen 4 and later EPYCs): several times faster there, with the tags still
agreeing with fp32 (the gate in trackscan.pipeline.model_gate; figures in BENCHMARKS.md).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from trackscan.adapters.onnx_tagger import MODEL_NAME, OUTPUTS, file_sha256
from trackscan.audio.front_end import PATCH_DTYPE
from trackscan.domain.errors import RetryableError
from trackscan.domain.ports import Predictions
from trackscan.domain.results import ModelInfo

# Our precision names and OpenVINO's INFERENCE_PRECISION_HINT values.
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}


class OpenVinoTagger:
    """Compiles the model on first use, so steps that never infer never pay for it.

    precision "auto" is bf16 where OpenVINO finds bf16 units on this CPU, fp32 otherwise.
    """

    def __init__(self, model_path: str, precision: str = "auto", threads: int = 0) -> None:
        if precision not in (*PRECISION_HINTS, "auto"):
            raise ValueError(f"unknown OpenVINO precision {precision!r}")
        self._model_path = Path(model_path)
        self._requested = precision
        self._threads = threads
        self._precision: str | None = None
        self._compiled: Any = None
        self._info: ModelInfo | None = None
        # A compiled model runs one call at a time: a worker running several messages at once
        # (their downloads and decodes overlap) takes turns at the model.
        self._lock = threading.Lock()

    @property
    def precision(self) -> str:
        """The precision this tagger runs in ("fp32" or "bf16"), "auto" resolved."""
        if self._precision is None:
            self._precision = self._requested if self._requested != "auto" else auto_precision()
        return self._precision

    def _load(self) -> Any:
        import openvino

        if not self._model_path.is_file():
            raise RetryableError(f"The model is missing at {self._model_path}: run `make model`.")
        # One stream, latency mode: one worker process runs one call at a time. No CPU pinning:
        # OpenVINO pins its inference threads by default, and several worker processes with one
        # thread each were all pinned to the same core (two workers on CPU 0, the other idle).
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[self.precision],
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "ENABLE_CPU_PINNING": False,
        }
        if self._threads:
            config["INFERENCE_NUM_THREADS"] = self._threads
        return openvino.Core().compile_model(str(self._model_path), "CPU", config)

    def predict(self, patches: np.ndarray) -> Predictions:
        """Scores a batch of patches; compiles the model on first use."""
        batch = np.ascontiguousarray(patches, dtype=PATCH_DTYPE)
        with self._lock:
            if self._compiled is None:
                self._compiled = self._load()
            outputs = self._compiled(batch)
            mtt, msd, embedding = (np.array(outputs[name]) for name in OUTPUTS)
        return Predictions(mtt=mtt, msd=msd, embedding=embedding)

    def model_info(self) -> ModelInfo:
        """Name, checksum and variant (openvino-bf16 or openvino-fp32) of the model."""
        if self._info is None:
            self._info = ModelInfo(MODEL_NAME, file_sha256(self._model_path), f"openvino-{self.precision}")
        return self._info


def auto_precision() -> str:
    """bf16 where OpenVINO runs it natively (AMX or AVX512_BF16), else fp32.

    Both kinds of bf16 CPU measured faster in bf16 than in fp32 (BENCHMARKS.md, "Model
    runtime"); a CPU without bf16 units would only emulate it, so it stays in fp32.
    """
    import openvino

    capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "bf16" if "BF16" in capabilities else "fp32"
