"""Builds a 60-minute real-music MP3 from the Debian tracks fetched by scripts/fetch_music.sh.

The tracks are decoded, resampled to 44.1 kHz stereo and concatenated until the hour is full,
then written as MP3 (the format partners send most), block by block to keep memory small.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile

RATE = 44_100


def _decoded_blocks(path: Path):
    """Yields [n, 2] float32 blocks of one file at 44.1 kHz stereo."""
    with av.open(str(path), metadata_errors="replace") as container:
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=RATE)
        for frame in container.decode(audio=0):
            for converted in resampler.resample(frame):
                yield converted.to_ndarray().reshape(-1, 2)


def build(music_dir: Path, target: Path, minutes: float = 60.0) -> Path:
    """Writes the long track once; later calls return the cached file."""
    if target.is_file():
        return target
    sources = sorted((music_dir / "wesnoth-1.16-music").glob("*.ogg"))
    needed = int(minutes * 60 * RATE)
    partial = target.with_suffix(".partial.mp3")
    with soundfile.SoundFile(partial, "w", RATE, 2, format="MP3", subtype="MPEG_LAYER_III") as out:
        written = 0
        while written < needed:
            for source in sources:
                for block in _decoded_blocks(source):
                    block = block[: needed - written]
                    out.write(np.ascontiguousarray(block))
                    written += len(block)
                    if written >= needed:
                        break
                if written >= needed:
                    break
    partial.rename(target)
    return target
