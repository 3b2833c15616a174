"""`trackscan cost`: each lane's month (trackscan.costs.lanes), checked against hand arithmetic."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from trackscan.audio.front_end import N_MELS, PATCH_DTYPE, PATCH_FRAMES
from trackscan.cli.main import cli
from trackscan.costs import lanes
from trackscan.costs.model import PREDICTION_BYTES, load_inputs, track_ops

WORKER_ITEM = "worker vCPU time (front end, bf16 model), over utilisation"


def test_cost_json_gives_every_lane_its_totals_ops_and_deployability():
    result = CliRunner().invoke(cli, ["cost", "--json", "--region", "us-central1", "--tracks-per-month", "1000000"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["region"], report["tracks_per_month"]) == ("us-central1", 1_000_000)
    assert set(report["lanes"]) == {"cloud-run", "workers"}
    for lane in report["lanes"].values():
        assert {
            "usd_per_million",
            "fixed_usd_per_month",
            "per_track_usd_per_million",
            "ops_per_track",
            "deployable",
        } <= set(lane)
        # At 1M tracks a month the whole fixed base lands on each million.
        assert lane["usd_per_million"] == pytest.approx(
            lane["per_track_usd_per_million"] + lane["fixed_usd_per_month"], abs=0.02
        )


def test_fixed_base_is_spread_over_the_month_s_tracks():
    _, costs = lanes.lane_costs("us-central1")
    workers = costs["workers"]
    at_100m = workers.usd_per_million(100_000_000)
    assert at_100m == pytest.approx(workers.per_track_usd_per_million + workers.fixed_usd_per_month / 100)
    assert workers.usd_per_million(1_000_000) > workers.usd_per_million(10_000_000) > at_100m


def test_the_zonal_cluster_pays_no_fee_where_a_regional_one_would(monkeypatch):
    _, costs = lanes.lane_costs("us-central1")
    for cost in costs.values():
        assert cost.fixed_items["GKE cluster fee (zonal: the free tier's credit)"] == 0.0
    assert costs["cloud-run"].fixed_items["Triton's minimum of 1 spot GPU nodes"] == pytest.approx(0.281835 * 730)
    deployed = lanes.load_lanes()
    regional = {**deployed, "deployment": {**deployed["deployment"], "regional_cluster": True}}
    monkeypatch.setattr(lanes, "load_lanes", lambda: regional)
    _, costs = lanes.lane_costs("us-central1")
    assert costs["cloud-run"].fixed_items["GKE cluster fee (regional: no free credit)"] == pytest.approx(73.0)


def test_cross_zone_bytes_are_the_patches_and_scores_sent_to_triton():
    _, costs = lanes.lane_costs("us-central1")
    ops = track_ops(load_inputs())
    patch_bytes = PATCH_FRAMES * N_MELS * np.dtype(PATCH_DTYPE).itemsize  # as the taggers send them
    gib = ops.patches * (patch_bytes + PREDICTION_BYTES) * 0.667 / (1 << 30)
    assert costs["cloud-run"].per_track_items["cross-zone bytes to Triton"] == pytest.approx(gib * 0.01 * 1e6)


def test_workers_are_priced_on_the_region_s_amx_machine():
    _, central = lanes.lane_costs("us-central1")
    _, west = lanes.lane_costs("europe-west4")
    ratio = west["workers"].per_track_items[WORKER_ITEM] / central["workers"].per_track_items[WORKER_ITEM]
    assert ratio == pytest.approx(0.05289 / 0.03151)  # n4-standard-4 there, c3-standard-4 here


def test_workers_lane_counts_no_work_blobs_listings_or_segment_messages():
    _, costs = lanes.lane_costs()
    workers, cloud_run = costs["workers"].ops_per_track, costs["cloud-run"].ops_per_track
    assert workers["gcs_class_a"] == 1, "only the partner's upload"
    assert workers["pubsub_messages"] == 1 and workers["run_requests"] == 0
    assert all(workers[kind] < cloud_run[kind] for kind in ("gcs_class_a", "gcs_class_b", "firestore_reads"))


def test_unknown_region_is_refused():
    with pytest.raises(KeyError, match="no prices for asia-east1"):
        lanes.lane_costs("asia-east1")
    assert CliRunner().invoke(cli, ["cost", "--region", "asia-east1"]).exit_code == 2


def test_the_priced_result_event_is_the_size_of_a_real_one():
    # The model prices what the pipeline sends: a track's event (100 full-precision scores, no
    # embedding) measured 6,248 bytes on drascula-music track1.
    from trackscan.costs.result_events import result_event_bytes

    assert 5_500 <= result_event_bytes() <= 7_000


def test_webhook_attempts_cost_a_batch_per_partner_per_interval_far_below_a_write_per_event():
    from trackscan.costs.result_events import webhook_attempt_items
    from trackscan.domain.config import Config

    deployment = lanes.load_lanes()["deployment"]
    write = 0.0000009
    (usd_per_month,) = webhook_attempt_items(deployment, {"firestore_write": write}).values()
    batches = 730 * 3600 / Config().webhook_attempts_flush_s
    assert usd_per_month == pytest.approx(
        deployment["webhook_partners"] * deployment["deliver_instances"] * batches * write
    )
    assert usd_per_month < 10_000_000 * write / 20  # a write per event at 10M tracks a month: 20 times more
    _, costs = lanes.lane_costs("us-central1")
    assert all(any(k.startswith("webhook attempts") for k in cost.fixed_items) for cost in costs.values())
