"""The model variant: chosen at start, recorded with the checksum in every result."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.pipeline_fixtures import PatchStatsTagger, make_deps, run_to_completion, upload
from trackscan.domain.config import Config
from trackscan.domain.ports import Predictions
from trackscan.domain.results import ModelInfo
from trackscan.domain.track_ids import track_id_for
from trackscan.domain.tracks import TrackRecord, new_record
from trackscan.pipeline.blob_codec import SegmentPredictions, decode_predictions, encode_predictions
from trackscan.runtimes.bootstrap import local_tagger

SHA = "ab" * 32


def _model_config(variant: str) -> Config:
    config = Config.from_env({**os.environ, "TRACKSCAN_MODEL_VARIANT": variant})
    if not Path(config.model_path).is_file():
        pytest.skip(f"no model at {config.model_path}: build it with `make model`")
    return config


def _cpu_flags() -> set[str]:
    flags = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")]
    return set(flags[0].split(":")[1].split()) if flags else set()


def test_model_info_reads_an_empty_variant_when_the_record_predates_it():
    data = new_record("file:///a.ogg", "1", "local", "ingest").to_dict()
    data["model"] = {"name": "musicnn", "sha256": SHA}  # as written before variants were recorded
    assert TrackRecord.from_dict(data).model == ModelInfo("musicnn", SHA, "")


def test_model_info_round_trips_the_variant_when_the_record_is_stored():
    record = new_record("file:///a.ogg", "1", "local", "ingest")
    record = replace(record, model=ModelInfo("musicnn", SHA, "openvino-bf16"))
    assert TrackRecord.from_dict(record.to_dict()).model.variant == "openvino-bf16"


def _predictions() -> Predictions:
    return Predictions(
        mtt=np.full((2, 50), 0.25, np.float32),
        msd=np.zeros((2, 50), np.float32),
        embedding=np.ones((2, 200), np.float32),
    )


def test_decode_predictions_keeps_the_variant_when_a_blob_round_trips():
    segment = SegmentPredictions(_predictions(), ModelInfo("musicnn", SHA, "openvino-fp32"))
    decoded = decode_predictions(encode_predictions(segment))
    assert decoded.model == segment.model
    assert np.array_equal(decoded.predictions.mtt, segment.predictions.mtt)


def test_decode_predictions_reads_an_empty_variant_when_the_blob_predates_it():
    import io

    p = _predictions()
    buffer = io.BytesIO()
    np.savez(
        buffer, mtt=p.mtt, msd=p.msd, embedding=p.embedding, model_name=np.str_("musicnn"), model_sha256=np.str_(SHA)
    )
    assert decode_predictions(buffer.getvalue()).model == ModelInfo("musicnn", SHA, "")


@pytest.mark.parametrize("variant", ["openvino-bf16", "openvino-fp32", "onnxruntime-fp32"])
def test_local_tagger_records_the_forced_variant_when_one_is_set(variant):
    tagger = local_tagger(_model_config(variant))
    info = tagger.model_info()
    assert info.variant == variant
    assert info.sha256 == Path(_model_config(variant).model_path + ".sha256").read_text().split()[0]


def test_local_tagger_runs_bf16_when_the_cpu_has_bf16_units():
    has_bf16 = bool({"amx_bf16", "avx512_bf16"} & _cpu_flags())
    expected = "openvino-bf16" if has_bf16 else "openvino-fp32"
    assert local_tagger(_model_config("auto")).model_info().variant == expected


def test_local_tagger_scores_like_onnxruntime_when_forced_to_openvino_fp32():
    patches = np.random.default_rng(0).uniform(0, 3, (3, 187, 96)).astype(np.float32)
    reference = local_tagger(_model_config("onnxruntime-fp32")).predict(patches)
    scored = local_tagger(_model_config("openvino-fp32")).predict(patches)
    np.testing.assert_allclose(scored.mtt, reference.mtt, atol=1e-4)
    np.testing.assert_allclose(scored.embedding, reference.embedding, rtol=1e-3, atol=1e-3)


def test_local_tagger_refuses_the_setting_when_the_variant_is_unknown():
    with pytest.raises(ValueError, match="TRACKSCAN_MODEL_VARIANT"):
        local_tagger(Config.from_env({"TRACKSCAN_MODEL_VARIANT": "int4"}))


class _VariantTagger(PatchStatsTagger):
    def __init__(self, variant: str) -> None:
        super().__init__()
        self._variant = variant

    def model_info(self) -> ModelInfo:
        return ModelInfo("patch-stats", "0" * 64, self._variant)


def test_finalize_names_both_variants_when_a_resumed_run_switched_precision(tmp_path, song):
    deps = make_deps(tmp_path / "home", segment_s=10.0)
    event = upload(song)
    from trackscan.pipeline.step_policy import run_step

    run_step(event, deps)
    segments = deps.publisher.drain()
    run_to_completion(replace(deps, tagger=_VariantTagger("openvino-fp32")), segments[0])
    run_to_completion(replace(deps, tagger=_VariantTagger("openvino-bf16")), *segments[1:])
    record = deps.tracks.get(track_id_for(event.source_uri, event.generation))
    assert record.model == ModelInfo("patch-stats", "0" * 64, "openvino-bf16+openvino-fp32")
