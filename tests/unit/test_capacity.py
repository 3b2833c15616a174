"""The capacity plan (docs/capacity.md) is what trackscan.costs.capacity computes."""

from pathlib import Path

import pytest

from trackscan.costs import capacity
from trackscan.pipeline.steps import CLOUD_RUN_LANE, WORKERS_LANE

PAGE = Path(__file__).resolve().parents[2] / "docs" / "capacity.md"


def test_capacity_page_shows_what_the_code_computes():
    text = PAGE.read_text()
    shown = text.split("<!-- capacity:begin -->\n", 1)[1].split("<!-- capacity:end -->", 1)[0]
    assert shown == capacity.report(), "docs/capacity.md is stale: python -m trackscan.costs.capacity"


@pytest.mark.parametrize("lane", [WORKERS_LANE, CLOUD_RUN_LANE])
def test_peak_grows_with_the_volume_and_is_four_times_the_average(lane):
    small, large = capacity.peak(lane, 7_000_000), capacity.peak(lane, 70_000_000)
    assert small.tracks_per_s == pytest.approx(7_000_000 / (7 * 86400) * 4)
    assert large.rates["Firestore writes"] == pytest.approx(10 * small.rates["Firestore writes"])
    # Each rounded up: ceil(10 x) >= 10 (ceil(x) - 1).
    assert all(large.compute[name] >= 10 * (small.compute[name] - 1) for name in small.compute)


@pytest.mark.parametrize("lane", [WORKERS_LANE, CLOUD_RUN_LANE])
def test_busiest_firestore_index_range_stays_under_its_limit_at_70m_tracks_a_week(lane):
    rates = capacity.peak(lane, 70_000_000).rates
    assert rates["Firestore writes"] > capacity.FIRESTORE_SEQUENTIAL_INDEX_WRITES_S  # unsharded, it would not
    assert rates["busiest index range, writes"] < capacity.FIRESTORE_SEQUENTIAL_INDEX_WRITES_S


def test_default_caps_bind_where_the_plan_says_to_raise_them():
    held = capacity.held_by_defaults(WORKERS_LANE)
    assert not capacity.peak(WORKERS_LANE, held).raise_caps
    assert capacity.peak(WORKERS_LANE, held + 2000).raise_caps
