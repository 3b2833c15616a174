"""The audio-features view: the shape apps knew from Spotify's retired endpoint, from our analysis.

These numbers are trackscan's own, derived from its tag scores and DSP measures as written below;
they are not Spotify's and do not reproduce Spotify's values. Each of the six perceptual values
is in [0, 1]; a tag score is the mean over the track's patches of the model's score for that tag.

- tempo, key (pitch class 0-11, C = 0; -1 unknown), mode (1 major, 0 minor, -1 unknown),
  loudness (integrated LUFS), time_signature (3 or 4), duration_ms: the descriptors themselves.
- energy: half from loudness, mapped linearly from -40 LUFS (0) to -6 LUFS (1); a quarter from
  the strongest of the tags fast, loud, drums, beat, beats, techno, metal, hard rock, punk; a
  quarter from 1 minus the strongest of quiet, soft, slow, ambient, new age, chillout.
- danceability: half from the beat's regularity (tempo_confidence), scaled by how usual the
  tempo is for dancing (1 from 90 to 140 BPM, falling to 0 at 50 and 200 BPM); half from the
  strongest of the tags dance, beat, beats, techno, party, electro, funk.
- valence: half from happy against sad ((happy - sad + 1) / 2), three tenths from the mode
  (major 1, minor 0, unknown 0.5), a fifth from the tempo ((BPM - 60) / 120).
- acousticness: acoustic evidence over acoustic plus electronic evidence, each the strongest of
  its tags (acoustic, classical, guitar, piano, strings, violin, cello, harp, flute, folk,
  harpsichord, sitar; electronic, electronica, electro, techno, synth).
- instrumentalness: evidence of no voice over no voice plus voice, each the strongest of its tags
  (no vocal, no vocals, no voice, instrumental; vocal, vocals, singing, voice, male vocal,
  female vocal, male voice, female voice, female vocalists, male vocalists, female vocalist).
- speechiness: a weak estimate, as no tag names speech: voice evidence times how little the
  track holds a key and a beat, (1 - key_confidence) * (1 - tempo_confidence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trackscan.domain.key_names import parse_key
from trackscan.domain.results import TrackResult
from trackscan.domain.tracks import TrackRecord

ENERGETIC = ("fast", "loud", "drums", "beat", "beats", "techno", "metal", "hard rock", "punk")
CALM = ("quiet", "soft", "slow", "ambient", "new age", "chillout")
DANCEABLE = ("dance", "beat", "beats", "techno", "party", "electro", "funk")
ACOUSTIC = (
    "acoustic",
    "classical",
    "guitar",
    "piano",
    "strings",
    "violin",
    "cello",
    "harp",
    "flute",
    "folk",
    "harpsichord",
    "sitar",
)
ELECTRONIC = ("electronic", "electronica", "electro", "techno", "synth")
NO_VOICE = ("no vocal", "no vocals", "no voice", "instrumental")
VOICE = (
    "vocal",
    "vocals",
    "singing",
    "voice",
    "male vocal",
    "female vocal",
    "male voice",
    "female voice",
    "female vocalists",
    "male vocalists",
    "female vocalist",
)
QUIET_LUFS, LOUD_LUFS = -40.0, -6.0
EVIDENCE_FLOOR = 0.01  # keeps a ratio of two weak scores near one half rather than undefined


@dataclass(frozen=True)
class AudioFeatures:
    """One track's audio features (see the module docstring for how each is derived)."""

    id: str
    danceability: float
    energy: float
    key: int
    loudness: float | None
    mode: int
    speechiness: float
    acousticness: float
    instrumentalness: float
    valence: float
    tempo: float | None
    time_signature: int | None
    duration_ms: int


def audio_features(record: TrackRecord) -> AudioFeatures | None:
    """The audio features of a finished track; None while it has no result."""
    result = record.result
    if result is None:
        return None
    tags = _tag_scores(result)
    tonic, mode = _key_and_mode(result.key)
    voice, no_voice = _strongest(tags, VOICE), _strongest(tags, NO_VOICE)
    return AudioFeatures(
        id=record.track_id,
        danceability=_unit(
            0.5 * (result.tempo_confidence or 0.0) * _dance_tempo(result.tempo_bpm) + 0.5 * _strongest(tags, DANCEABLE)
        ),
        energy=_unit(
            0.5 * _loudness_scale(result.loudness_lufs)
            + 0.25 * _strongest(tags, ENERGETIC)
            + 0.25 * (1 - _strongest(tags, CALM))
        ),
        key=tonic,
        loudness=result.loudness_lufs,
        mode=mode,
        speechiness=_unit(voice * (1 - (result.key_confidence or 0.0)) * (1 - (result.tempo_confidence or 0.0))),
        acousticness=_share(_strongest(tags, ACOUSTIC), _strongest(tags, ELECTRONIC)),
        instrumentalness=_share(no_voice, voice),
        valence=_unit(
            0.5 * (tags.get("happy", 0.0) - tags.get("sad", 0.0) + 1) / 2
            + 0.3 * (0.5 if mode < 0 else float(mode))
            + 0.2 * np.clip(((result.tempo_bpm or 60.0) - 60.0) / 120.0, 0.0, 1.0)
        ),
        tempo=result.tempo_bpm,
        time_signature=result.time_signature,
        duration_ms=int(round(result.duration_s * 1000)),
    )


def _tag_scores(result: TrackResult) -> dict[str, float]:
    """One score per tag name over both vocabularies, the higher where a name is in both."""
    scores: dict[str, float] = {}
    for vocabulary in result.tags.values():
        for name, score in vocabulary.items():
            scores[name.lower()] = max(score, scores.get(name.lower(), 0.0))
    return scores


def _strongest(tags: dict[str, float], names: tuple[str, ...]) -> float:
    return max(tags.get(name, 0.0) for name in names)


def _share(evidence: float, against: float) -> float:
    return _unit((evidence + EVIDENCE_FLOOR) / (evidence + against + 2 * EVIDENCE_FLOOR))


def _key_and_mode(key: str | None) -> tuple[int, int]:
    if not key:
        return -1, -1
    tonic, mode = parse_key(key)
    return tonic, 1 if mode == "major" else 0


def _loudness_scale(lufs: float | None) -> float:
    return 0.0 if lufs is None else float(np.clip((lufs - QUIET_LUFS) / (LOUD_LUFS - QUIET_LUFS), 0.0, 1.0))


def _dance_tempo(bpm: float | None) -> float:
    """1 from 90 to 140 BPM, falling linearly to 0 at 50 and at 200 BPM."""
    if bpm is None:
        return 0.0
    return float(np.interp(bpm, [50.0, 90.0, 140.0, 200.0], [0.0, 1.0, 1.0, 0.0]))


def _unit(value: float) -> float:
    return round(float(np.clip(value, 0.0, 1.0)), 3)
