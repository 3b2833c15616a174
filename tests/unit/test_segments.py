import pytest

from trackscan.pipeline.segment_plan import SEGMENT_SAMPLES_MAX, plan_segments, segment_length_s


@pytest.mark.parametrize(
    ("duration_s", "expected"),
    [
        (30.0, [(0.0, 30.0)]),
        (60.0, [(0.0, 60.0)]),
        (150.0, [(0.0, 60.0), (60.0, 60.0), (120.0, 30.0)]),
        (122.0, [(0.0, 60.0), (60.0, 62.0)]),
    ],
    ids=["short", "exactly-one", "remainder", "tiny-remainder-folded"],
)
def test_plan_segments_covers_the_track_when_cut_at_60s(duration_s, expected):
    assert plan_segments(duration_s, 60.0) == expected


def test_plan_segments_keeps_every_step_small_when_the_track_lasts_two_hours():
    plans = plan_segments(7200.0, 60.0)
    assert len(plans) == 120
    assert max(d for _, d in plans) <= 65.0
    assert sum(d for _, d in plans) == pytest.approx(7200.0)


@pytest.mark.parametrize(
    ("sample_rate", "channels", "expected_s"),
    [(44_100, 2, 300.0), (48_000, 6, 300.0), (96_000, 8, 240.0), (192_000, 8, 120.0)],
    ids=["cd-stereo", "5.1", "8ch-96k", "8ch-192k"],
)
def test_segment_length_keeps_a_segment_s_decode_within_the_heaviest_file_s_120_s(sample_rate, channels, expected_s):
    assert segment_length_s(300.0, sample_rate, channels) == pytest.approx(expected_s)
    assert segment_length_s(300.0, sample_rate, channels) * sample_rate * channels <= SEGMENT_SAMPLES_MAX
