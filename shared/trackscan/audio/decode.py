"""Decoding with PyAV (FFmpeg): probe a file and decode one time range of it.

Every failure becomes a BadAudioError with a code a support person can act on. Decoders are
lenient (a truncated MP3 decodes without error, just shorter), so the frames actually decoded
are checked against what the header promised.
"""

from __future__ import annotations

import math
from typing import BinaryIO

import av
import numpy as np
import numpy.typing as npt

from trackscan.audio.integrity import at_end, check_whole
from trackscan.domain.decoded_audio import AudioInfo, DecodedAudio, SegmentPlan, WholeTrack
from trackscan.domain.errors import BadAudioError

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
MAX_CHANNELS = 8
# Decoded audio is kept at no more than this rate and two channels: enough for loudness and
# features, and it bounds the decoded samples of one 120 s segment to about 46 MB.
MAX_DECODE_RATE = 48_000
# A segment may come out this much shorter than planned before it counts as truncated
# (container durations are estimates for some formats).
TRUNCATION_TOLERANCE = 0.9
TRUNCATION_SLACK_S = 0.5


def probe(reader: BinaryIO, max_duration_s: float) -> AudioInfo:
    """Reads the header and checks the limits.

    Raises:
        BadAudioError: EMPTY, UNSUPPORTED, CORRUPT, TOO_LONG or BAD_FORMAT.
    """
    with _open(reader) as container:
        stream = _audio_stream(container)
        check_whole(reader, container.format.name)
        info = AudioInfo(
            duration_s=_duration_s(container, stream),
            sample_rate=int(stream.codec_context.sample_rate or 0),
            channels=int(stream.codec_context.channels or 0),
            codec=stream.codec_context.name,
        )
    _check_limits(info, max_duration_s)
    return info


def decode_segment(reader: BinaryIO, start_s: float, duration_s: float) -> DecodedAudio:
    """Decodes [start_s, start_s + duration_s) to planar float32, at most 2 channels and 48 kHz.

    Raises:
        BadAudioError: CORRUPT when decoding fails, or TRUNCATED when the file holds less audio
            than its header says.
    """
    with _open(reader) as container:
        stream = _audio_stream(container)
        rate = min(int(stream.codec_context.sample_rate), MAX_DECODE_RATE)
        layout = "mono" if stream.codec_context.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        samples = np.empty((1 if layout == "mono" else 2, int(round(duration_s * rate))), np.float32)
        if start_s > 0:
            _seek(container, stream, start_s)
        try:
            filled = _decode_into(samples, container, stream, resampler, start_s, rate)
        except BadAudioError as exc:
            if exc.code == "CORRUPT" and at_end(reader):  # the last frame is cut off mid-way
                raise BadAudioError("TRUNCATED", "The file ends in the middle of a frame: it was cut short.") from exc
            raise
    samples = samples[:, :filled] if filled else np.zeros((1, 0), np.float32)
    _check_decoded(samples, rate, duration_s)
    return DecodedAudio(np.ascontiguousarray(samples), rate)


def decode_whole(reader: BinaryIO, max_duration_s: float, plan: SegmentPlan) -> WholeTrack:
    """Probes the source and decodes the ranges ``plan`` gives, all from one opened reader.

    Each range is decoded exactly as decode_segment decodes it for the segment chain, so the
    samples are the chain's. The reader is read once where the blob store reads the object whole
    (GcsBlobStore does up to 64 MiB).
    """
    info = probe(reader, max_duration_s)
    ranges = plan(info.duration_s)
    if ranges is None:
        return WholeTrack(info, None)
    return WholeTrack(info, [decode_segment(reader, start_s, duration_s) for start_s, duration_s in ranges])


def _open(reader: BinaryIO) -> av.container.InputContainer:
    reader.seek(0, 2)
    if reader.tell() == 0:
        raise BadAudioError("EMPTY", "The file is empty (0 bytes).")
    reader.seek(0)
    try:
        # Tags are often Latin-1 in old files: never let a title stop the decoding.
        return av.open(reader, mode="r", metadata_errors="replace")
    except av.error.InvalidDataError as exc:
        raise BadAudioError("UNSUPPORTED", "The file is not audio in a format we read.") from exc
    except av.error.FFmpegError as exc:
        raise BadAudioError("CORRUPT", f"The file could not be opened: {exc}.") from exc


def _seek(container: av.container.InputContainer, stream: av.audio.stream.AudioStream, start_s: float) -> None:
    # To the key frame at or before start_s, in the stream's time base; a stream without one is
    # sought in the container's (microseconds).
    if stream.time_base is None:
        container.seek(int(start_s * av.time_base), backward=True)
    else:
        container.seek(int(start_s / stream.time_base), stream=stream, backward=True)


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise BadAudioError("UNSUPPORTED", "The file has no audio stream.")
    return container.streams.audio[0]


def _duration_s(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    raise BadAudioError("CORRUPT", "The file does not say how long it is.")


def _check_limits(info: AudioInfo, max_duration_s: float) -> None:
    if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
        raise BadAudioError(
            "BAD_FORMAT",
            f"Sample rate {info.sample_rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz.",
        )
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise BadAudioError("BAD_FORMAT", f"{info.channels} channels; at most {MAX_CHANNELS} are accepted.")
    if not math.isfinite(info.duration_s) or info.duration_s <= 0:
        raise BadAudioError("EMPTY", "The file holds no audio.")
    if info.duration_s > max_duration_s:
        raise BadAudioError(
            "TOO_LONG",
            f"The track lasts {info.duration_s / 60:.0f} min; the limit is {max_duration_s / 60:.0f} min.",
        )


def _decode_into(
    samples: npt.NDArray[np.float32],
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    resampler: av.AudioResampler,
    start_s: float,
    rate: int,
) -> int:
    """Fills [channels, n] samples with the range from start_s on; returns how many were decoded.

    Frames are copied plane by plane straight into place: a minute of audio is thousands of
    frames, and anything more per frame (arrays stacked, fractions multiplied) shows in the cost.
    """
    wanted, filled = samples.shape[1], 0
    end_s = start_s + wanted / rate
    seconds_per_tick: float | None = None
    try:
        for frame in container.decode(stream):
            if seconds_per_tick is None and frame.time_base is not None:
                seconds_per_tick = float(frame.time_base)
            # A frame without a timestamp (some raw streams) is taken to start where the range does.
            frame_start_s = start_s if frame.pts is None or seconds_per_tick is None else frame.pts * seconds_per_tick
            if filled >= wanted or frame_start_s >= end_s:
                break
            for converted in resampler.resample(frame):
                # A frame that begins before the range (after a seek to a key frame) is trimmed.
                skip = max(int(round((start_s - frame_start_s) * rate)), 0)
                count = min(converted.samples - skip, wanted - filled)
                if count <= 0:
                    continue
                for channel, plane in enumerate(converted.planes[: samples.shape[0]]):
                    samples[channel, filled : filled + count] = np.frombuffer(
                        memoryview(plane), np.float32, count, 4 * skip
                    )
                filled += count
    except av.error.FFmpegError as exc:
        raise BadAudioError("CORRUPT", f"Decoding failed at about {start_s:.0f} s: {exc}.") from exc
    return filled


def _check_decoded(samples: npt.NDArray[np.float32], rate: int, planned_s: float) -> None:
    decoded_s = samples.shape[1] / rate
    if decoded_s < planned_s * TRUNCATION_TOLERANCE - TRUNCATION_SLACK_S:
        raise BadAudioError(
            "TRUNCATED",
            f"The file holds less audio than its header says ({decoded_s:.1f} s of {planned_s:.1f} s"
            " in this part): it is probably cut short or damaged.",
        )
    if not np.isfinite(samples).all():
        raise BadAudioError("CORRUPT", "The decoded audio contains invalid values.")
