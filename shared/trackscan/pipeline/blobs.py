"""Wire format of the intermediate blobs: numpy .npz, written once, read by the next step."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from trackscan.audio.descriptors import SegmentDescriptors
from trackscan.ports import Predictions
from trackscan.tracks import ModelInfo


@dataclass(frozen=True)
class SegmentFeatures:
    patches: np.ndarray  # [P, 187, 96] float32
    descriptors: SegmentDescriptors


@dataclass(frozen=True)
class SegmentPredictions:
    predictions: Predictions
    model: ModelInfo


def _to_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def encode_features(features: SegmentFeatures) -> bytes:
    d = features.descriptors
    return _to_bytes(
        patches=features.patches,
        duration_s=np.float64(d.duration_s),
        tempogram_sum=d.tempogram_sum,
        tempogram_frames=np.int64(d.tempogram_frames),
        chroma_sum=d.chroma_sum,
        loudness_blocks=d.loudness_blocks,
    )


def decode_features(data: bytes) -> SegmentFeatures:
    with np.load(io.BytesIO(data)) as z:
        descriptors = SegmentDescriptors(
            duration_s=float(z["duration_s"]),
            tempogram_sum=z["tempogram_sum"],
            tempogram_frames=int(z["tempogram_frames"]),
            chroma_sum=z["chroma_sum"],
            loudness_blocks=z["loudness_blocks"],
        )
        return SegmentFeatures(patches=z["patches"], descriptors=descriptors)


def encode_predictions(segment: SegmentPredictions) -> bytes:
    p = segment.predictions
    return _to_bytes(
        mtt=p.mtt,
        msd=p.msd,
        embedding=p.embedding,
        model_name=np.str_(segment.model.name),
        model_sha256=np.str_(segment.model.sha256),
        model_variant=np.str_(segment.model.variant),
    )


def decode_predictions(data: bytes) -> SegmentPredictions:
    with np.load(io.BytesIO(data)) as z:
        predictions = Predictions(mtt=z["mtt"], msd=z["msd"], embedding=z["embedding"])
        variant = str(z["model_variant"]) if "model_variant" in z else ""  # blobs written before it
        model = ModelInfo(name=str(z["model_name"]), sha256=str(z["model_sha256"]), variant=variant)
        return SegmentPredictions(predictions, model)
