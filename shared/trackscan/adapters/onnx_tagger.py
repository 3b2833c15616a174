"""Tagger running the musicnn ONNX model in process with onnxruntime."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trackscan.audio.front_end import PATCH_DTYPE
from trackscan.domain.errors import RetryableError
from trackscan.domain.ports import Predictions
from trackscan.domain.results import ModelInfo

if TYPE_CHECKING:
    import onnxruntime

MODEL_NAME = "musicnn"
VARIANT = "onnxruntime-fp32"
OUTPUTS = ["mtt_scores", "msd_scores", "embedding"]


class OnnxTagger:
    """Loads the model on first use, so steps that never infer never pay for it.

    Args:
        model_path: the ONNX model file.
        threads: onnxruntime's intra-op threads; 0 lets it use every core.
    """

    def __init__(self, model_path: str, threads: int = 0) -> None:
        self._model_path = Path(model_path)
        self._threads = threads
        self._session: onnxruntime.InferenceSession | None = None
        self._info: ModelInfo | None = None

    def _load(self) -> onnxruntime.InferenceSession:
        import onnxruntime

        if not self._model_path.is_file():
            raise RetryableError(f"The model is missing at {self._model_path}: run `make model`.")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        return onnxruntime.InferenceSession(str(self._model_path), options, providers=["CPUExecutionProvider"])

    def predict(self, patches: np.ndarray) -> Predictions:
        """Scores a batch of patches [N, 187, 96], loading the model on the first call."""
        if self._session is None:
            self._session = self._load()
        mtt, msd, embedding = self._session.run(OUTPUTS, {"patches": patches.astype(PATCH_DTYPE)})
        return Predictions(mtt=mtt, msd=msd, embedding=embedding)

    def model_info(self) -> ModelInfo:
        """The model's name and the sha256 of its file (from the build's sidecar when present), read once."""
        if self._info is None:
            self._info = ModelInfo(MODEL_NAME, file_sha256(self._model_path), VARIANT)
        return self._info


def file_sha256(path: Path) -> str:
    """The model file's sha256, read from the sidecar the build script writes when present."""
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        return sidecar.read_text().split()[0]
    return hashlib.sha256(path.read_bytes()).hexdigest()
