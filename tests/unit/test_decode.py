import io
from pathlib import Path

import numpy as np
import pytest

from tests.audio_fixtures import ALL_SUFFIXES, bytes_file, music_like, pdf_named, tone, truncated_copy, write_audio
from trackscan.audio.decode import decode_segment, probe
from trackscan.domain.errors import BadAudioError

LIMIT_S = 7200.0


def _open(path: Path) -> io.BufferedReader:
    return path.open("rb")


@pytest.mark.parametrize("suffix", ALL_SUFFIXES)
def test_probe_reads_duration_when_format_is_supported(tmp_path, suffix):
    path = write_audio(tmp_path / f"a{suffix}", music_like(4.0))
    with _open(path) as reader:
        info = probe(reader, LIMIT_S)
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert info.channels == 1


@pytest.mark.parametrize("suffix", ALL_SUFFIXES)
def test_decode_segment_returns_the_planned_length_when_format_is_supported(tmp_path, suffix):
    path = write_audio(tmp_path / f"a{suffix}", music_like(6.0))
    with _open(path) as reader:
        decoded = decode_segment(reader, 2.0, 3.0)
    assert decoded.duration_s == pytest.approx(3.0, abs=0.05)
    assert decoded.samples.dtype == np.float32


def test_decode_segment_starts_at_the_requested_time_when_seeking(tmp_path):
    # A tone that changes from 440 Hz to 880 Hz at 5 s: a segment from 5 s holds only 880 Hz.
    audio = np.concatenate([tone(440, 5.0), tone(880, 5.0)])
    path = write_audio(tmp_path / "a.flac", audio)
    with _open(path) as reader:
        decoded = decode_segment(reader, 5.0, 2.0)
    spectrum = np.abs(np.fft.rfft(decoded.samples[0]))
    peak_hz = np.argmax(spectrum) * decoded.sample_rate / decoded.samples.shape[1]
    assert peak_hz == pytest.approx(880, abs=5)


def test_decode_segment_keeps_stereo_and_caps_the_rate_when_input_is_96khz(tmp_path):
    stereo = np.stack([tone(440, 2.0, 96_000), tone(660, 2.0, 96_000)], axis=1)
    path = write_audio(tmp_path / "a.wav", stereo, 96_000)
    with _open(path) as reader:
        decoded = decode_segment(reader, 0.0, 2.0)
    assert decoded.samples.shape[0] == 2
    assert decoded.sample_rate == 48_000


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d: bytes_file(d / "empty.mp3", b""), "EMPTY"),
        (lambda d: pdf_named(d / "doc.mp3"), "UNSUPPORTED"),
        (lambda d: bytes_file(d / "noise.wav", np.random.default_rng(1).bytes(5000)), "UNSUPPORTED"),
        (lambda d: write_audio(d / "slow.wav", tone(100, 1.0, 4_000), 4_000), "BAD_FORMAT"),
    ],
    ids=["zero-byte", "pdf", "random-bytes", "4khz"],
)
def test_probe_raises_a_coded_error_when_input_is_bad(tmp_path, make, code):
    path = make(tmp_path)
    with pytest.raises(BadAudioError) as caught, _open(path) as reader:
        probe(reader, LIMIT_S)
    assert caught.value.code == code
    assert caught.value.message


def test_probe_raises_too_long_when_duration_exceeds_the_limit(tmp_path):
    path = write_audio(tmp_path / "long.flac", tone(440, 3.0))
    with pytest.raises(BadAudioError) as caught, _open(path) as reader:
        probe(reader, max_duration_s=2.0)
    assert caught.value.code == "TOO_LONG"


def test_decode_segment_raises_truncated_when_the_file_is_cut_short(tmp_path):
    whole = write_audio(tmp_path / "whole.mp3", music_like(20.0))
    cut = truncated_copy(whole, tmp_path / "cut.mp3", 0.5)
    with _open(cut) as reader:
        info = probe(reader, LIMIT_S)
    with pytest.raises(BadAudioError) as caught, _open(cut) as reader:
        decode_segment(reader, 0.0, info.duration_s)
    assert caught.value.code == "TRUNCATED"


@pytest.mark.parametrize("suffix", [".ogg", ".opus", ".flac", ".wav"])
def test_probe_or_decode_raises_truncated_when_the_file_is_cut_short(tmp_path, suffix):
    # Each of these decodes a cut copy without complaint, just shorter: only the container's own
    # bookkeeping (Ogg end-of-stream page, WAV data size, FLAC's last frame) tells.
    whole = write_audio(tmp_path / f"whole{suffix}", music_like(20.0))
    cut = truncated_copy(whole, tmp_path / f"cut{suffix}", 0.5)
    with pytest.raises(BadAudioError) as caught:
        with _open(cut) as reader:
            info = probe(reader, LIMIT_S)
        with _open(cut) as reader:
            decode_segment(reader, 0.0, info.duration_s)
    assert caught.value.code == "TRUNCATED"


@pytest.mark.parametrize("suffix", [".ogg", ".opus", ".flac", ".wav"])
def test_probe_accepts_the_file_when_it_is_whole(tmp_path, suffix):
    whole = write_audio(tmp_path / f"whole{suffix}", music_like(5.0))
    with _open(whole) as reader:
        assert probe(reader, LIMIT_S).duration_s == pytest.approx(5.0, abs=0.1)
