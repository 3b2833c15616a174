"""How a track is cut into segments, and whether it is tagged whole.

Light on purpose: the decoder child imports it to plan a track it has read whole.
"""

from __future__ import annotations

import math

# A last segment shorter than this is folded into the one before it.
MIN_LAST_SEGMENT_S = 5.0
# The most decoded samples (every channel, at the file's own rate) one segment may hold: the
# heaviest file accepted, 8 channels at 192 kHz, for 120 s, whose decode peaked at about 900 MiB
# in the decoder child (trackscan.domain.config.DEFAULT_DECODE_MEMORY_BYTES).
SEGMENT_SAMPLES_MAX = 8 * 192_000 * 120


def segment_length_s(segment_s: float, sample_rate: int, channels: int) -> float:
    """The configured segment length, shortened for a file that would decode past SEGMENT_SAMPLES_MAX."""
    return min(segment_s, SEGMENT_SAMPLES_MAX / (max(sample_rate, 1) * max(channels, 1)))


def plan_segments(duration_s: float, segment_s: float) -> list[tuple[float, float]]:
    """(start_s, duration_s) of each segment; the last absorbs a remainder under 5 s."""
    count = max(1, math.ceil(duration_s / segment_s))
    if count > 1 and duration_s - (count - 1) * segment_s < MIN_LAST_SEGMENT_S:
        count -= 1
    starts = [i * segment_s for i in range(count)]
    ends = [*starts[1:], duration_s]
    return [(start, end - start) for start, end in zip(starts, ends, strict=True)]


def plan_whole_track(duration_s: float, segment_s: float, whole_track_max_s: float) -> list[tuple[float, float]] | None:
    """The segments of a track short enough to be tagged in one unit of work; None for a longer one."""
    return plan_segments(duration_s, segment_s) if duration_s <= whole_track_max_s else None
