"""The audio-features view: each derived value moves the way it should on audio whose answer is
obvious. Runs the real musicnn model, since most values come from its tag scores."""

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from tests.audio_fixtures import C_MAJOR_CADENCE, cadence
from tests.music_fixtures import TempoCase, drum_pattern
from trackscan.adapters.onnx_tagger import OnnxTagger
from trackscan.audio.descriptors import segment_descriptors
from trackscan.audio.front_end import patches_from_audio, to_model_rate
from trackscan.domain.audio_features import AudioFeatures, audio_features
from trackscan.domain.config import Config
from trackscan.domain.tracks import TrackRecord, TrackState
from trackscan.pipeline.aggregate import track_result
from trackscan.pipeline.blob_codec import SegmentFeatures, SegmentPredictions

RATE = 22_050
SECONDS = 20.0


@pytest.fixture(scope="module")
def tagger() -> OnnxTagger:
    model_path = Config.from_env().model_path
    if not Path(model_path).is_file():
        pytest.skip(f"no model at {model_path}: build it with `make model`")
    return OnnxTagger(model_path)


def _features(tagger: OnnxTagger, audio: np.ndarray) -> AudioFeatures:
    samples = audio[None, :].astype(np.float32)
    mono = to_model_rate(samples, RATE)
    segment = SegmentFeatures(patches_from_audio(mono), segment_descriptors(samples, RATE, mono))
    predictions = SegmentPredictions(tagger.predict(segment.patches), tagger.model_info())
    record = TrackRecord(
        "t" + "0" * 24,
        "file:///x.wav",
        "1",
        "local",
        state=TrackState.DONE,
        result=track_result([segment], [predictions]),
    )
    features = audio_features(record)
    assert features is not None
    return features


def _at_lufs(audio: np.ndarray, target_lufs: float) -> np.ndarray:
    """The audio scaled to the target loudness, as pyloudnorm measures it (float: no clipping)."""
    measured = pyloudnorm.Meter(RATE).integrated_loudness(audio.astype(np.float64))
    return (audio * 10 ** ((target_lufs - measured) / 20)).astype(np.float32)


def test_danceability_is_higher_when_a_drum_pattern_plays_than_when_a_chord_is_held(tagger):
    groove = _features(tagger, drum_pattern(TempoCase(122.0, "four-on-the-floor"), SECONDS, RATE))
    held = _features(tagger, cadence([C_MAJOR_CADENCE[0]], SECONDS, RATE))
    assert groove.danceability > held.danceability


def test_instrumentalness_is_over_one_half_when_the_audio_is_synthetic_and_has_no_voice(tagger):
    assert _features(tagger, drum_pattern(TempoCase(100.0, "rock"), SECONDS, RATE)).instrumentalness > 0.5
    assert _features(tagger, cadence(C_MAJOR_CADENCE, SECONDS, RATE)).instrumentalness > 0.5


def test_energy_is_lower_when_the_same_track_plays_at_minus_40_lufs_than_at_minus_8(tagger):
    beat = drum_pattern(TempoCase(128.0, "rock"), SECONDS, RATE)
    loud, quiet = _features(tagger, _at_lufs(beat, -8.0)), _features(tagger, _at_lufs(beat, -40.0))
    assert loud.loudness == pytest.approx(-8, abs=0.2) and quiet.loudness == pytest.approx(-40, abs=0.2)
    assert quiet.energy < loud.energy


def test_audio_features_carry_the_descriptors_when_a_track_is_done(tagger):
    features = _features(tagger, cadence(C_MAJOR_CADENCE, SECONDS, RATE))
    assert (features.key, features.mode, features.duration_ms) == (0, 1, 20_000)
    values = (
        features.danceability,
        features.energy,
        features.speechiness,
        features.acousticness,
        features.instrumentalness,
        features.valence,
    )
    assert all(0.0 <= v <= 1.0 for v in values)


def test_audio_features_are_none_when_the_track_has_no_result():
    assert audio_features(TrackRecord("t" + "0" * 24, "file:///x.wav", "1", "local", state=TrackState.FAILED)) is None
