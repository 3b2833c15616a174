import pytest

from trackscan.pipeline.segment_plan import plan_segments


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
