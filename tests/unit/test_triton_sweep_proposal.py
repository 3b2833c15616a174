"""The Triton sweep's proposal (benchmarks/bench_triton_gpu.py) on hand-made sweep results."""

from benchmarks.bench_triton_gpu import PointResult, propose, sweep_points
from benchmarks.triton_servers import ServerSettings, variant_config


def point(instances, delay_us, batch, clients, patches_per_s, p50_ms=10.0, p99_ms=20.0, bad=0):
    return PointResult(
        instances=instances,
        queue_delay_us=delay_us,
        patches_per_request=batch,
        concurrency=clients,
        requests=10,
        good_outputs=10 - bad,
        bad_outputs=bad,
        errors=[],
        patches_per_s=patches_per_s,
        p50_ms=p50_ms,
        p99_ms=p99_ms,
        patches_per_model_call=float(batch),
        gpu_util_percent=None,
    )


def test_sweep_points_adds_the_segment_request_under_load_when_batches_include_it():
    assert sweep_points([1, 8, 20], [1, 4], max_batch=256) == [(1, 1), (8, 1), (20, 1), (20, 4)]


def test_sweep_points_uses_the_largest_batch_when_segments_exceed_the_curve():
    assert sweep_points([1, 4], [2], max_batch=256) == [(1, 1), (4, 1), (4, 2)]


def test_propose_picks_knee_and_best_batch_when_one_delay_was_swept():
    results = [
        point(1, 1000, 1, 1, 100.0),
        point(1, 1000, 8, 1, 900.0, p50_ms=4.0),
        point(1, 1000, 64, 1, 1000.0),
        point(1, 1000, 20, 4, 1200.0),
    ]
    proposal = propose(results, sla_p99_ms=1000.0)
    # 900 >= 0.9 * 1000: batch 8 is the knee; 64 is the best single-client batch.
    assert proposal["preferred_batch_sizes"] == [8, 64]
    assert proposal["instances"] == 1
    assert proposal["max_queue_delay_us"] == 2000  # half of the knee's 4 ms p50
    assert proposal["best_patches_per_s"] == 1200.0


def test_propose_prefers_fewer_instances_and_shorter_delay_when_within_five_percent():
    results = [
        point(1, 500, 8, 1, 500.0),
        point(1, 500, 20, 16, 960.0),
        point(2, 500, 8, 1, 500.0),
        point(2, 500, 20, 16, 1000.0),
        point(2, 2000, 8, 1, 500.0),
        point(2, 2000, 20, 16, 990.0),
    ]
    proposal = propose(results, sla_p99_ms=1000.0)
    assert (proposal["instances"], proposal["max_queue_delay_us"]) == (1, 500)


def test_propose_ignores_points_over_the_latency_limit_when_others_meet_it():
    results = [point(1, 500, 8, 1, 500.0), point(1, 500, 20, 64, 5000.0, p99_ms=3000.0)]
    assert propose(results, sla_p99_ms=1000.0)["best_patches_per_s"] == 500.0


def test_variant_config_asks_for_tensorrt_fp16_when_on_a_gpu():
    text = variant_config(ServerSettings(2, 1000, 256, "cuda", "fp16", tensorrt=True))
    assert 'name: "tensorrt"' in text and 'value: "FP16"' in text
    assert "kind: KIND_GPU, count: 2" in text and "max_queue_delay_microseconds: 1000" in text


def test_variant_config_has_no_accelerator_when_on_cpu():
    text = variant_config(ServerSettings(1, 1000, 64, "cpu", "fp16", tensorrt=True))
    assert "tensorrt" not in text and "kind: KIND_CPU, count: 1" in text
