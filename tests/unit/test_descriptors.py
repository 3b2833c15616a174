import numpy as np
import pyloudnorm
import pytest

from tests.audio_fixtures import A_MINOR_CADENCE, C_MAJOR_CADENCE, cadence, click_track, tone
from trackscan.audio.descriptors import combine, estimate_key, gated_loudness, segment_descriptors
from trackscan.audio.features import to_model_rate

RATE = 44_100


def _descriptors(audio: np.ndarray, rate: int = RATE):
    samples = audio[None, :] if audio.ndim == 1 else audio
    return segment_descriptors(samples, rate, to_model_rate(samples, rate))


def test_combine_finds_the_tempo_when_clicks_are_at_120_bpm():
    assert combine([_descriptors(click_track(120, 20.0))]).tempo_bpm == pytest.approx(120, abs=3)


@pytest.mark.parametrize(
    ("progression", "key"),
    [(C_MAJOR_CADENCE, "C major"), (A_MINOR_CADENCE, "A minor")],
    ids=["I-IV-V-I in C", "i-iv-V-i in A minor"],
)
def test_combine_finds_the_key_when_a_cadence_is_played(progression, key):
    assert combine([_descriptors(cadence(progression, 8.0))]).key == key


def test_estimate_key_returns_none_when_chroma_is_silent():
    assert estimate_key(np.zeros(12)) is None


def test_combine_matches_whole_track_loudness_when_cut_into_segments():
    audio = np.concatenate([tone(440, 10.0, amplitude=0.5), tone(440, 10.0, amplitude=0.05)])
    whole = pyloudnorm.Meter(RATE).integrated_loudness(audio.astype(np.float64))
    parts = [_descriptors(audio[: 10 * RATE]), _descriptors(audio[10 * RATE :])]
    assert combine(parts).loudness_lufs == pytest.approx(whole, abs=0.1)


def test_gated_loudness_is_minus_3_lufs_when_a_full_scale_sine_is_measured():
    blocks = _descriptors(tone(997, 5.0, amplitude=1.0)).loudness_blocks
    assert gated_loudness(blocks) == pytest.approx(-3.01, abs=0.05)


def test_gated_loudness_is_none_when_audio_is_silent():
    assert gated_loudness(_descriptors(np.zeros(RATE * 2, np.float32)).loudness_blocks) is None
