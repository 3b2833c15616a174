import io

import numpy as np
import pyloudnorm
import pytest

from tests.audio_fixtures import (
    A_MINOR_CADENCE,
    C_MAJOR_CADENCE,
    C,
    E,
    G,
    cadence,
    chord,
    click_track,
    music_like,
    tone,
)
from tests.music_fixtures import TempoCase, drum_pattern
from trackscan.audio.descriptors import SegmentDescriptors, combine, segment_descriptors
from trackscan.audio.front_end import to_model_rate
from trackscan.pipeline.segment_plan import plan_segments

RATE = 44_100


def _descriptors(audio: np.ndarray, rate: int = RATE) -> SegmentDescriptors:
    samples = audio[None, :] if audio.ndim == 1 else audio
    return segment_descriptors(samples, rate, to_model_rate(samples, rate))


def test_combine_finds_the_tempo_when_clicks_are_at_120_bpm():
    assert combine([_descriptors(click_track(120, 20.0))]).tempo_bpm == pytest.approx(120, abs=0.2)


@pytest.mark.parametrize(
    ("progression", "key"),
    [(C_MAJOR_CADENCE, "C major"), (A_MINOR_CADENCE, "A minor")],
    ids=["I-IV-V-I in C", "i-iv-V-i in A minor"],
)
def test_combine_finds_the_key_when_a_cadence_is_played(progression, key):
    assert combine([_descriptors(cadence(progression, 8.0))]).key == key


def test_combine_gives_no_descriptors_when_audio_is_silent():
    track = combine([_descriptors(np.zeros(RATE * 4, np.float32))])
    assert (track.tempo_bpm, track.key, track.loudness_lufs, track.loudness_range_lu) == (None, None, None, None)
    assert track.true_peak_dbtp == -200.0


def _noise(colour: str, seconds: float, seed: int = 0) -> np.ndarray:
    """White noise, or noise with its highs rolled off (pink-like, brown-like), or sparse drops (rain)."""
    rng = np.random.default_rng(seed)
    white = rng.normal(0.0, 0.1, int(seconds * RATE))
    if colour == "white":
        return white.astype(np.float32)
    if colour == "rain":
        return (white * 0.1 + rng.normal(0.0, 0.4, white.size) * (rng.random(white.size) < 0.002)).astype(np.float32)
    walk = np.cumsum(white)
    width = {"pink": 10, "brown": 100}[colour]  # samples: the wider, the darker
    low = walk - np.convolve(walk, np.ones(width) / width, mode="same")
    return (0.2 * low / np.max(np.abs(low))).astype(np.float32)


@pytest.mark.parametrize(
    ("audio", "why"),
    [
        (tone(1000.0, 30.0), "a steady 1 kHz tone"),
        (tone(440.0, 30.0), "a steady 440 Hz tone"),
        (chord([C, E, G], 30.0), "one sustained C major triad"),
        (_noise("white", 30.0), "white noise"),
        (_noise("white", 12.0, seed=3), "a short white noise"),
        (_noise("pink", 30.0), "noise with its highs rolled off"),
        (_noise("brown", 30.0), "darker noise still"),
        (_noise("rain", 30.0), "sparse random drops on a noise floor"),
    ],
    ids=["sine-1k", "sine-440", "sustained-chord", "white-noise", "short-white-noise", "pink", "brown", "rain"],
)
def test_combine_names_no_tempo_and_no_key_when_nothing_repeats_or_nothing_is_pitched(audio, why):
    # A tone or one chord fits several keys alike and nothing in it repeats; noise has no pitch,
    # and its onsets repeat only by chance: no answer, not a guess.
    track = combine([_descriptors(audio)])
    assert (track.tempo_bpm, track.tempo_confidence, track.time_signature) == (None, None, None), why
    assert (track.key, track.key_confidence) == (None, None), why
    assert track.loudness_lufs is not None


def test_combine_keeps_the_tempo_of_drums_alone_though_nothing_is_pitched():
    drums = drum_pattern(TempoCase(124.0, "four-on-the-floor"), 30.0, sample_rate=RATE, mix=(1.0, 0.7, 0.2, 0.0))
    track = combine([_descriptors(drums)])
    assert track.key is None  # no pitch, no key
    assert track.tempo_bpm == pytest.approx(124.0, rel=0.02)


def test_segment_descriptors_survive_their_wire_form_when_written_to_npz_and_read():
    segment = _descriptors(music_like(6.0))
    buffer = io.BytesIO()
    np.savez(buffer, **segment.to_arrays())
    with np.load(io.BytesIO(buffer.getvalue())) as arrays:
        read = SegmentDescriptors.from_arrays(arrays)
    assert read.duration_s == segment.duration_s and read.true_peak == segment.true_peak
    for name in ("onset_autocorrelation", "onset_pairs", "chroma", "bass_chroma", "loudness_power"):
        np.testing.assert_array_equal(getattr(read, name), getattr(segment, name))


def test_combine_matches_the_whole_track_when_cut_as_the_pipeline_cuts():
    seconds, rate = 150.0, 22_050
    beat = drum_pattern(TempoCase(128.0, "rock"), seconds, rate)
    chords = cadence(C_MAJOR_CADENCE, seconds, rate) * np.repeat([0.3, 1.0, 0.5], int(seconds * rate / 3))
    left = 0.7 * beat + 0.5 * chords
    audio = np.stack([left, 0.8 * left])
    whole = combine([_descriptors(audio, rate)])
    parts = [
        _descriptors(audio[:, int(round(start * rate)) : int(round((start + length) * rate))], rate)
        for start, length in plan_segments(seconds, 60.0)
    ]
    cut = combine(parts)
    assert len(parts) == 3
    assert (cut.tempo_bpm, cut.time_signature, cut.key) == (whole.tempo_bpm, whole.time_signature, whole.key)
    assert cut.tempo_confidence == pytest.approx(whole.tempo_confidence, abs=0.02)
    assert cut.loudness_lufs == pytest.approx(whole.loudness_lufs, abs=0.02)
    assert cut.loudness_range_lu == pytest.approx(whole.loudness_range_lu, abs=0.05)
    assert cut.true_peak_dbtp == pytest.approx(whole.true_peak_dbtp, abs=0.05)


def test_combine_agrees_with_pyloudnorm_when_a_track_with_a_quiet_half_is_cut_in_two():
    audio = np.concatenate([tone(440, 10.0, amplitude=0.5), tone(440, 10.0, amplitude=0.05)])
    reference = pyloudnorm.Meter(RATE).integrated_loudness(audio.astype(np.float64))
    cut = combine([_descriptors(audio[: 10 * RATE]), _descriptors(audio[10 * RATE :])])
    assert cut.loudness_lufs == pytest.approx(reference, abs=0.1)
