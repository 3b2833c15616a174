"""What tagging a track gives: the result, the model that made it, and whether it was reused."""

from __future__ import annotations

from dataclasses import dataclass

from trackscan.domain.key_names import respelled


@dataclass(frozen=True)
class ModelInfo:
    """Which model scored a track: its name, the checksum of its weights, and its variant.

    The variant is the runtime and precision it ran in (e.g. "openvino-bf16"; "" in records
    written before it was recorded).
    """

    name: str
    sha256: str
    variant: str = ""


@dataclass(frozen=True)
class ReusedResult:
    """The result was served from an earlier track with the same bytes, not computed again.

    Only times: which track it came from is logged for staff, never stored where a partner reads.
    """

    made_at: str  # when the model scored the bytes first
    reused_at: str


@dataclass(frozen=True)
class TrackResult:
    """The tags and descriptors of a finished track (the shape of ``trackscan run --json``).

    Fields added after the first release default to None, so records written before them still
    read; None also means the audio gave no answer (silence has no tempo).
    """

    tags: dict[str, dict[str, float]]
    top_tags: list[str]
    tempo_bpm: float | None
    key: str | None
    loudness_lufs: float | None
    duration_s: float
    embedding: list[float]
    tempo_confidence: float | None = None  # [0, 1]
    time_signature: int | None = None  # beats per bar, 3 or 4
    key_confidence: float | None = None  # [0, 1]
    loudness_range_lu: float | None = None  # EBU Tech 3342 LRA
    true_peak_dbtp: float | None = None  # BS.1770-4 Annex 2, 4x oversampled

    def __post_init__(self) -> None:  # a key stored as "A# major" reads as "Bb major" (key_names)
        object.__setattr__(self, "key", respelled(self.key))
