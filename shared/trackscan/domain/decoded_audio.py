"""Audio as a decoder hands it over: what the header says, and samples of planned time ranges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class AudioInfo:
    """What the header of an audio file says, before anything is decoded."""

    duration_s: float
    sample_rate: int
    channels: int
    codec: str


@dataclass(frozen=True)
class DecodedAudio:
    """Planar float32 samples of one decoded time range, with their sample rate."""

    samples: npt.NDArray[np.float32]  # [channels, n], channels <= 2
    sample_rate: int

    @property
    def duration_s(self) -> float:
        """How long the decoded audio lasts."""
        frames: int = self.samples.shape[1]
        return frames / self.sample_rate


# (start_s, duration_s) of each range to decode, from the track's duration; None: decode nothing.
SegmentPlan = Callable[[float], "list[tuple[float, float]] | None"]


@dataclass(frozen=True)
class WholeTrack:
    """A source read once: its header, and its planned ranges decoded (None when none were)."""

    info: AudioInfo
    segments: list[DecodedAudio] | None
