"""Tagger calling NVIDIA Triton Inference Server over gRPC, with a deadline on every call.

An unavailable, draining or not-ready server raises RetryableError: the message is redelivered
and, on GKE, lands on another replica. A few quick retries first ride out a pod restart, each
within what is left of the step's deadline (trackscan.domain.step_deadline).
"""

from __future__ import annotations

import numpy as np
from tenacity import (
    retry,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tritonclient import grpc as triton_grpc
from tritonclient.utils import InferenceServerException

from trackscan.audio.front_end import PATCH_DTYPE
from trackscan.domain.errors import RetryableError
from trackscan.domain.ports import Predictions
from trackscan.domain.results import ModelInfo
from trackscan.domain.step_deadline import StepDeadlineError, time_left

OUTPUTS = ("mtt_scores", "msd_scores", "embedding")
# What inference/model_repository/musicnn/config.pbtxt serves: the ONNX model on Triton's
# onnxruntime backend in fp32. Change it with that file.
VARIANT = "triton-onnxruntime-fp32"


class TritonTagger:
    """Scores patches on a Triton server; connects on first use.

    Args:
        url: the server's gRPC address, host:port.
        model_name: the model's name in Triton's model repository.
        timeout_s: the longest one inference call may take (less where the step's deadline is nearer).
        model_sha256: the sha256 of the deployed model (Config.model_sha256), recorded with every
            result; Triton does not report it.
        variant: the runtime and precision the deployment serves, recorded with every result.
    """

    def __init__(self, url: str, model_name: str, timeout_s: float, model_sha256: str, variant: str = VARIANT) -> None:
        self._url = url
        self._model_name = model_name
        self._timeout_s = timeout_s
        self._info = ModelInfo(model_name, model_sha256, variant)
        self._client: triton_grpc.InferenceServerClient | None = None

    def _connection(self) -> triton_grpc.InferenceServerClient:
        if self._client is None:
            self._client = triton_grpc.InferenceServerClient(self._url)
        return self._client

    @retry(
        retry=retry_if_exception_type(RetryableError) & retry_if_not_exception_type(StepDeadlineError),
        stop=stop_after_attempt(3),
        wait=wait_exponential_jitter(multiplier=0.2, max=1.0),
        reraise=True,
    )
    def predict(self, patches: np.ndarray) -> Predictions:
        """Scores a batch of patches [N, 187, 96]; RetryableError once three quick tries failed."""
        batch = np.ascontiguousarray(patches, dtype=PATCH_DTYPE)
        request = triton_grpc.InferInput("patches", list(batch.shape), "FP16")
        request.set_data_from_numpy(batch)
        outputs = [triton_grpc.InferRequestedOutput(name) for name in OUTPUTS]
        timeout_s = time_left(self._timeout_s, "calling Triton")
        try:
            response = self._connection().infer(self._model_name, [request], outputs=outputs, client_timeout=timeout_s)
        except InferenceServerException as exc:
            # The connection may be what failed: one that went silent (a preempted node sends no
            # reset) is never noticed by gRPC without keepalive, and every later call on it would
            # time out too. The retry opens a new one.
            self._disconnect()
            raise RetryableError(f"Triton at {self._url}: {exc.message()}") from exc
        mtt, msd, embedding = (response.as_numpy(name) for name in OUTPUTS)
        return Predictions(mtt=mtt, msd=msd, embedding=embedding)

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def model_info(self) -> ModelInfo:
        """The configured model name and sha256."""
        return self._info
