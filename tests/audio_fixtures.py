"""Generated audio for tests: tones, chords, click tracks and damaged files. Nothing is committed."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile

# soundfile (libsndfile) writes these; PyAV's AAC encoder writes .m4a.
SOUNDFILE_FORMATS = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
    ".ogg": ("OGG", "VORBIS"),
    ".opus": ("OGG", "OPUS"),
}
ALL_SUFFIXES = [*SOUNDFILE_FORMATS, ".m4a"]


def tone(freq_hz: float, seconds: float, sample_rate: int = 44_100, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def chord(freqs_hz: list[float], seconds: float, sample_rate: int = 44_100) -> np.ndarray:
    return sum(tone(f, seconds, sample_rate, 0.3 / len(freqs_hz)) for f in freqs_hz)  # type: ignore[return-value]


def click_track(bpm: float, seconds: float, sample_rate: int = 44_100) -> np.ndarray:
    """Short noise bursts on every beat."""
    audio = np.zeros(int(seconds * sample_rate), np.float32)
    burst = np.random.default_rng(0).uniform(-0.8, 0.8, int(0.02 * sample_rate)).astype(np.float32)
    for start in np.arange(0, seconds, 60.0 / bpm):
        i = int(start * sample_rate)
        audio[i : i + burst.size] = burst[: audio.size - i]
    return audio


C, D, E, F, G, G_SHARP, A, B = 261.63, 293.66, 329.63, 349.23, 392.0, 415.3, 440.0, 493.88
C_MAJOR_CADENCE = [[C, E, G], [F, A, C * 2], [G, B, D * 2], [C, E, G]]  # I-IV-V-I
A_MINOR_CADENCE = [[A, C * 2, E * 2], [D, F, A], [E, G_SHARP, B], [A, C * 2, E * 2]]  # i-iv-V-i


def cadence(progression: list[list[float]], seconds: float, sample_rate: int = 44_100) -> np.ndarray:
    """The chords of the progression, 2 s each, repeated to fill the duration."""
    chords = [chord(triad, 2.0, sample_rate) for triad in progression]
    repeats = int(np.ceil(seconds / (2.0 * len(chords))))
    return np.concatenate(chords * repeats)[: int(seconds * sample_rate)]


def music_like(seconds: float, sample_rate: int = 44_100) -> np.ndarray:
    """A C major cadence over a 120 BPM click: something every descriptor can measure."""
    return 0.6 * cadence(C_MAJOR_CADENCE, seconds, sample_rate) + 0.4 * click_track(120, seconds, sample_rate)


def write_audio(path: Path, samples: np.ndarray, sample_rate: int = 44_100) -> Path:
    """Writes mono or [n, channels] audio in the format of the path's suffix."""
    if path.suffix == ".m4a":
        _write_m4a(path, samples, sample_rate)
    else:
        fmt, subtype = SOUNDFILE_FORMATS[path.suffix]
        rate = 48_000 if subtype == "OPUS" else sample_rate
        if rate != sample_rate:
            import soxr

            samples = soxr.resample(samples, sample_rate, rate)
        soundfile.write(path, samples, rate, format=fmt, subtype=subtype)
    return path


def _write_m4a(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    planar = np.atleast_2d(samples.T if samples.ndim == 2 else samples).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=sample_rate, layout="mono" if planar.shape[0] == 1 else "stereo")
        for start in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planar[:, start : start + 1024]), format="fltp", layout=stream.layout.name
            )
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def truncated_copy(source: Path, target: Path, keep_fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep_fraction)])
    return target


def bytes_file(target: Path, data: bytes) -> Path:
    target.write_bytes(data)
    return target


def pdf_named(target: Path) -> Path:
    """A small PDF document under an audio file name."""
    target.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" * 20)
    return target
