"""The naive loop a user would write in an afternoon: the peer `trackscan run` is measured against.

One file at a time, the whole file in memory (librosa.load at 16 kHz mono), the same log-mel
patches and descriptors as trackscan, the same ONNX model with onnxruntime's defaults. Run as
its own process so its start-up (imports, model load) counts, as trackscan's does.

    python -m benchmarks.naive_loop FILE...
"""

from __future__ import annotations

import sys

import librosa
import onnxruntime

from trackscan.audio.descriptors import combine, segment_descriptors
from trackscan.audio.front_end import PATCH_DTYPE, SAMPLE_RATE, patches_from_audio
from trackscan.domain.config import Config


def main() -> None:
    session = onnxruntime.InferenceSession(Config.from_env().model_path, providers=["CPUExecutionProvider"])
    for path in sys.argv[1:]:
        audio, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
        combine([segment_descriptors(audio[None, :], SAMPLE_RATE, audio)])
        session.run(None, {"patches": patches_from_audio(audio).astype(PATCH_DTYPE)})


if __name__ == "__main__":
    main()
