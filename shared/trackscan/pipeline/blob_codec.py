"""Wire format of the intermediate blobs: numpy .npz, written once, read by the next step."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trackscan.audio.descriptors import SegmentDescriptors
from trackscan.domain.ports import Predictions
from trackscan.domain.results import ModelInfo


@dataclass(frozen=True)
class SegmentFeatures:
    """What the features step computed for one segment: model input and DSP partial sums."""

    patches: np.ndarray  # [P, 187, 96] float32
    descriptors: SegmentDescriptors


@dataclass(frozen=True)
class SegmentPredictions:
    """What the infer step computed for one segment, with the model that computed it."""

    predictions: Predictions
    model: ModelInfo


def _to_bytes(**arrays: npt.ArrayLike) -> bytes:
    buffer = io.BytesIO()
    # No pickled object arrays: np.load (allow_pickle=False) would refuse to read them back.
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def encode_features(features: SegmentFeatures) -> bytes:
    """The features blob: the patches and the descriptor partials, one .npz array each."""
    return _to_bytes(patches=features.patches, **features.descriptors.to_arrays())


def decode_features(data: bytes) -> SegmentFeatures:
    """Reads a blob written by encode_features."""
    with np.load(io.BytesIO(data)) as z:
        return SegmentFeatures(patches=z["patches"], descriptors=SegmentDescriptors.from_arrays(z))


def encode_predictions(segment: SegmentPredictions) -> bytes:
    """The predictions blob: the three model outputs and the model's name and sha256."""
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
    """Reads a blob written by encode_predictions."""
    with np.load(io.BytesIO(data)) as z:
        predictions = Predictions(mtt=z["mtt"], msd=z["msd"], embedding=z["embedding"])
        variant = str(z["model_variant"]) if "model_variant" in z else ""  # blobs written before it
        model = ModelInfo(name=str(z["model_name"]), sha256=str(z["model_sha256"]), variant=variant)
        return SegmentPredictions(predictions, model)
