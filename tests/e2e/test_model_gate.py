"""The faithfulness gate on real music: the variant `auto` picks must tag as fp32 does.

A small set for `make test`: a first segment of 60 s (half the pipeline's, to keep the test
short) of every third track of the three Debian packages, 25 tracks. The gate tolerates one
track in twenty whose top-5 differs, so the set must hold twenty or more;
`benchmarks/bench_model.py` runs the same gate on every track in full.
"""

import os

import pytest

from trackscan.adapters.onnx_tagger import OnnxTagger
from trackscan.domain.config import Config
from trackscan.pipeline.model_gate import agreement, score_tracks, segment_patches
from trackscan.runtimes.bootstrap import local_tagger

pytestmark = pytest.mark.e2e
PACKAGES = ("wesnoth-1.16-music", "drascula-music", "torus-trooper-data")
SEGMENT_S = 60.0


@pytest.fixture(scope="module")
def first_segments(music_dir):
    tracks = sorted(p for package in PACKAGES for p in (music_dir / package).iterdir())[::3]
    return [segment_patches(path, SEGMENT_S, max_segments=1)[0] for path in tracks]


def test_auto_variant_tags_as_fp32_does_when_run_on_real_music(first_segments):
    config = Config.from_env({**os.environ, "TRACKSCAN_MODEL_VARIANT": "auto"})
    tagger = local_tagger(config, threads=1)
    reference = score_tracks(OnnxTagger(config.model_path, threads=1), first_segments, config.infer_batch_patches)
    result = agreement(reference, score_tracks(tagger, first_segments, config.infer_batch_patches))
    assert len(first_segments) >= 20
    assert result.passed, (tagger.model_info().variant, result)
