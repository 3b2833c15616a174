"""The cost model's arithmetic (trackscan.costs.model) on small cases worked out by hand."""

import json

import pytest

from trackscan.costs import model as cost_model
from trackscan.costs.model import Inputs, per_million, segment_count, track_ops, with_lever

FIGURES = {
    "track_s": 120.0,
    "segment_s": 60.0,
    "source_bytes_per_s": 16000.0,
    "ingest_s": 1.0,
    "features_fixed_s": 0.5,
    "features_s_per_audio_min": 2.0,
    "infer_fixed_s": 0.5,
    "finalize_s": 1.0,
    "cpu_fp32_vcpu_s_per_patch": 0.1,
    "amx_bf16_vcpu_s_per_patch": 0.05,
    "amx_request_threads": 2.0,
    "pool_utilisation": 0.5,
    "pool_gib_per_vcpu": 4.0,
    "gpu_h100_patches_per_s": 1000.0,
    "gpu_l4_patches_per_s": 100.0,
    "gpu_request_s": 0.1,
    "work_residence_h": 0.0,
}
ZERO_PRICES = dict.fromkeys(cost_model.load_prices(), 0.0)


@pytest.fixture
def inputs() -> Inputs:
    """Two 60 s segments of 20 patches each, no memory cost."""
    return Inputs(dict(FIGURES), dict.fromkeys(("ingest", "features", "infer", "finalize"), 0.0))


@pytest.mark.parametrize(("track_s", "expected"), [(240.0, 4), (242.0, 4), (250.0, 5), (30.0, 1)])
def test_segment_count_folds_a_short_tail_when_under_5s(track_s, expected):
    assert segment_count(track_s, 60.0) == expected


def test_track_ops_counts_each_call_of_the_code_when_two_segments(inputs):
    ops = track_ops(inputs)
    assert (ops.segments, ops.patches) == (2, 40)
    assert (ops.pubsub_messages, ops.run_requests) == (6, 6)  # upload, 2 segments, 2 features-ready, inferred
    assert (ops.firestore_writes, ops.firestore_reads) == (4, 8)  # reads: 2 per segment + 4 transitions/gets
    assert ops.gcs_class_a == 7  # upload + 2 features + 2 predictions + 2 infer listings (finalize deletes by name)
    # A 1.9 MB source is read whole in one call by each decode (GcsBlobStore.open_read).
    assert ops.gcs_class_b == 3 + 2 * (10 + 1)


def test_per_million_charges_wall_seconds_when_every_step_runs_on_cloud_run(inputs):
    prices = {**ZERO_PRICES, "cloud_run_vcpu_s": 0.001}
    costs = per_million(inputs, prices, "cloud-run-cpu")
    # ingest 1 + features (2 x 0.5 + 2 min x 2) + infer 2 x (0.5 + 20 x 0.1) + finalize 1 = 12 s.
    assert sum(costs.values()) == pytest.approx(12 * 0.001 * 1e6)
    assert costs["Cloud Run infer"] == pytest.approx(5 * 0.001 * 1e6)


def test_per_million_charges_pool_hours_over_utilisation_when_pull_workers(inputs):
    prices = {**ZERO_PRICES, "spot_c3_vcpu_hour": 3.6, "cloud_run_request": 1.0}
    costs = per_million(inputs, prices, "pull-workers-amx")
    # 1 + 5 + 2 x (0.5 + 20 x 0.05) + 1 = 10 busy seconds at $0.001 a second, half of it paid idle.
    assert costs["steps on the spot pool"] == pytest.approx(10 * 0.001 / 0.5 * 1e6)
    assert costs["Cloud Run requests"] == 0.0  # pull workers make no Cloud Run requests


def test_per_million_prices_gpu_seconds_per_patch_when_gpu_path(inputs):
    prices = {**ZERO_PRICES, "spot_a3_highgpu_1g_hour": 1.6, "spot_h100_gpu_hour": 2.0}
    costs = per_million(inputs, prices, "gpu")
    # 40 patches at 1,000 patches/s = 0.04 s of a $3.60 node-hour, at 50 % utilisation.
    assert costs["model on a spot H100 node"] == pytest.approx(0.04 / 3600 * 3.6 / 0.5 * 1e6)


def test_per_million_bills_the_pubsub_minimum_when_messages_are_small(inputs):
    prices = {**ZERO_PRICES, "pubsub_tib": 40.0, "gcs_class_a": 1e-6, "firestore_write": 1e-6}
    costs = per_million(inputs, prices, "amx-pool")
    assert costs["Pub/Sub"] == pytest.approx(6 * 2 * 1000 / 2**40 * 40 * 1e6)
    assert costs["GCS Class A"] == pytest.approx(7.0)
    assert costs["Firestore writes"] == pytest.approx(4.0)


def test_with_lever_drops_one_class_a_per_segment_when_infer_stops_listing(inputs):
    assert track_ops(with_lever(inputs, {"list_in_infer": False})).gcs_class_a == 5
    whole = track_ops(with_lever(inputs, {"segment_s": 120.0}))
    assert (whole.segments, whole.gcs_class_a) == (1, 3)  # one segment: complete without a listing


def test_gpu_throughput_from_sweep_reads_the_proposal_when_given_a_sweep(tmp_path):
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"proposal": {"best_patches_per_s": 1234.5}}))
    assert cost_model.gpu_throughput_from_sweep(sweep) == 1234.5


def test_price_file_names_a_source_and_date_for_every_price_when_loaded():
    raw = cost_model.load_toml(cost_model.HERE / "prices.toml")
    for name, entry in raw.items():
        assert entry["source"].startswith("https://"), name
        assert entry["checked"][:4] == "2026", name
        assert entry["value"] >= 0, name
