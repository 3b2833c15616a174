"""int8 post-training quantisation of musicnn with NNCF, judged by the faithfulness gate.

Calibrates on 300 patches of wesnoth-1.16-music and gates on the held-out drascula-music and
torus-trooper-data tracks against onnxruntime fp32, for: NNCF's default (performance) preset,
its mixed preset, and int8 in one part of the network only (the rest in fp32) to find where
the error comes from. None passed when this was written, so trackscan offers no int8 variant.
NNCF is not a dependency of trackscan: run this from a virtual environment of your own.

    pip install nncf==3.4.0 && python -m benchmarks.int8_attempt --music ~/.cache/trackscan/music
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import nncf
import numpy as np
import openvino

from trackscan.adapters.onnx_tagger import OUTPUTS, OnnxTagger
from trackscan.audio.front_end import PATCH_DTYPE
from trackscan.domain.config import Config
from trackscan.domain.ports import Predictions
from trackscan.pipeline.model_gate import agreement, score_tracks, segment_patches

# OpenVINO's names for the layers of both networks, by part of musicnn.
PARTS = {
    "front end (timbral convolutions)": ["Conv__236", "Conv__225", "Conv__263", "Conv__252"],
    "front end (temporal convolutions)": [f"{n}/conv2d_{i}/BiasAdd" for n in ("mtt", "msd") for i in (2, 3, 4)],
    "mid end": ["Conv__266", "Conv__268", "Conv__270", "Conv__272", "Conv__274", "Conv__276"],
    "back end (dense)": [f"{n}/dense{s}/MatMul" for n in ("mtt", "msd") for s in ("", "_1")],
}


class CompiledTagger:
    """Just enough of a Tagger to score an OpenVINO model in memory."""

    def __init__(self, model: Any) -> None:
        config = {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": 1}
        self._compiled = openvino.Core().compile_model(model, "CPU", config)

    def predict(self, patches: np.ndarray) -> Predictions:
        outputs = self._compiled(patches.astype(PATCH_DTYPE))
        return Predictions(*(outputs[name] for name in OUTPUTS))


def quantised(model: Any, calibration: np.ndarray, only: list[str] | None, preset: Any) -> Any:
    data = nncf.Dataset([calibration[i : i + 1].astype(PATCH_DTYPE) for i in range(len(calibration))])
    others = [] if only is None else [n for part in PARTS.values() for n in part if n not in only]
    # Convolutions lose their bias into a separate Add in OpenVINO: that is the name NNCF sees.
    names = [n if n.endswith("MatMul") else f"{n}/WithoutBiases" for n in others]
    scope = nncf.IgnoredScope(names=names, validate=False)
    return nncf.quantize(model, data, preset=preset, subset_size=len(calibration), ignored_scope=scope)


def speed(tagger: CompiledTagger, patches: np.ndarray, batch: int = 8) -> float:
    """Patches per CPU second (1 thread), which a busy machine disturbs less than wall time."""
    tagger.predict(patches[:batch])
    began = time.process_time()
    for i in range(0, len(patches), batch):
        tagger.predict(patches[i : i + batch])
    return len(patches) / (time.process_time() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--music", type=Path, required=True)
    args = parser.parse_args()
    config = Config.from_env()
    tuning = sorted((args.music / "wesnoth-1.16-music").iterdir())
    pool = np.concatenate([np.concatenate(segment_patches(p, config.segment_s)) for p in tuning])
    calibration = pool[np.random.default_rng(0).permutation(len(pool))[:300]]
    held_out = sorted(p for d in ("drascula-music", "torus-trooper-data") for p in (args.music / d).iterdir())
    tracks = [np.concatenate(segment_patches(p, config.segment_s)) for p in held_out]
    reference = score_tracks(OnnxTagger(config.model_path, threads=1), tracks, 8)
    model = openvino.Core().read_model(config.model_path)
    trials = {
        "default preset": (None, nncf.QuantizationPreset.PERFORMANCE),
        "mixed preset": (None, nncf.QuantizationPreset.MIXED),
    }
    performance = nncf.QuantizationPreset.PERFORMANCE
    trials |= {f"int8 in the {part} only": (names, performance) for part, names in PARTS.items()}
    print(f"| int8 ({len(tracks)} held-out tracks) | MTT | MSD | both | min cosine | gate | patches per CPU s |")
    print("|---|---|---|---|---|---|---|")
    fp32 = CompiledTagger(model)
    print(f"| (fp32, OpenVINO) | | | | | | {speed(fp32, calibration[:64]):.1f} |")
    for label, (only, preset) in trials.items():
        tagger = CompiledTagger(quantised(model, calibration, only, preset))
        a = agreement(reference, score_tracks(tagger, tracks, 8))
        verdict = "pass" if a.passed else "FAIL"
        print(
            f"| {label} | {a.same_top_mtt:.1%} | {a.same_top_msd:.1%} | {a.same_top_both:.1%} "
            f"| {a.min_embedding_cosine:.3f} | {verdict} | {speed(tagger, calibration[:64]):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
