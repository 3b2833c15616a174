"""The musicnn front end: 16 kHz mono log-mel spectrogram cut into 3 s patches.

Computed in float32 throughout. musicnn's own extractor casts the mel spectrogram to float16
before log10(10000 * x + 1); that overflows on ordinary music and makes every track look alike.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from trackscan.audio.spectrum import blas_on_one_thread, mel_filters, power_spectrogram

SAMPLE_RATE = 16_000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
PATCH_FRAMES = 187  # 187 hops of 16 ms: 3 s
# The model takes the patches rounded to float16 (after the log: nothing overflows) and casts
# them to float32 first: half the bytes on the way to Triton (inference/musicnn_to_onnx.py).
PATCH_DTYPE = np.float16


def to_model_rate(samples: npt.NDArray[np.float32], sample_rate: int) -> npt.NDArray[np.float32]:
    """Downmixes [channels, n] audio to mono and resamples it to 16 kHz (soxr, high quality)."""
    mono: npt.NDArray[np.float32] = samples.mean(axis=0, dtype=np.float32)
    if sample_rate == SAMPLE_RATE:
        return mono
    return np.asarray(soxr.resample(mono, sample_rate, SAMPLE_RATE, quality="HQ"), dtype=np.float32)


def log_mel(mono_16k: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The log-compressed mel spectrogram, [frames, 96] float32."""
    mel = power_spectrogram(mono_16k, N_FFT, HOP_LENGTH) @ mel_filters(SAMPLE_RATE, N_FFT, N_MELS)
    compressed: npt.NDArray[np.float32] = np.log10(10_000.0 * mel + 1.0)
    return compressed


def to_patches(log_mel_frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Cuts [frames, 96] into non-overlapping [P, 187, 96] patches.

    The tail shorter than a patch is dropped, as musicnn does; audio shorter than one patch is
    padded with silence (log10(1) = 0) so every track yields at least one patch.
    """
    frames = log_mel_frames.shape[0]
    if frames < PATCH_FRAMES:
        pad = np.zeros((PATCH_FRAMES - frames, N_MELS), np.float32)
        log_mel_frames = np.concatenate([log_mel_frames, pad])
    count = log_mel_frames.shape[0] // PATCH_FRAMES
    return np.ascontiguousarray(log_mel_frames[: count * PATCH_FRAMES].reshape(count, PATCH_FRAMES, N_MELS))


def patches_from_audio(mono_16k: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """16 kHz mono audio to model input patches."""
    with blas_on_one_thread():
        return to_patches(log_mel(mono_16k))
