"""The tag lists in trackscan.domain.labels against the built musicnn model (when there is one)."""

import json
from pathlib import Path

import pytest

from trackscan.domain.config import Config
from trackscan.domain.labels import MSD_TAGS, MTT_TAGS

EXPECTED_INPUTS = {"patches": [187, 96]}
EXPECTED_OUTPUTS = {"mtt_scores": [50], "msd_scores": [50], "embedding": [200]}


@pytest.fixture(scope="module")
def model_session():
    """An onnxruntime session on the built model; skips the test if it was not built."""
    model_path = Path(Config.from_env().model_path)
    if not model_path.is_file():
        pytest.skip(f"no model at {model_path}: build it with `python3 inference/build_model.py`")
    onnxruntime = pytest.importorskip("onnxruntime")
    return onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("tags", [MTT_TAGS, MSD_TAGS], ids=["mtt", "msd"])
def test_labels_hold_50_distinct_names_when_imported(tags):
    assert len(tags) == 50
    assert len(set(tags)) == 50
    assert all(isinstance(tag, str) and tag.strip() == tag and tag for tag in tags)


def test_labels_equal_model_metadata_when_model_is_built(model_session):
    metadata = model_session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["mtt_tags"]) == list(MTT_TAGS)
    assert json.loads(metadata["msd_tags"]) == list(MSD_TAGS)


def test_model_has_specified_inputs_when_model_is_built(model_session):
    inputs = {i.name: i for i in model_session.get_inputs()}
    assert set(inputs) == set(EXPECTED_INPUTS)
    for name, dims in EXPECTED_INPUTS.items():
        assert inputs[name].type == "tensor(float16)"  # half the bytes to Triton (front_end.PATCH_DTYPE)
        assert isinstance(inputs[name].shape[0], str), "the batch dimension must be dynamic"
        assert inputs[name].shape[1:] == dims


def test_model_has_specified_outputs_when_model_is_built(model_session):
    outputs = {o.name: o for o in model_session.get_outputs()}
    assert set(outputs) == set(EXPECTED_OUTPUTS)
    for name, dims in EXPECTED_OUTPUTS.items():
        assert outputs[name].type == "tensor(float)"
        assert isinstance(outputs[name].shape[0], str), "the batch dimension must be dynamic"
        assert outputs[name].shape[1:] == dims


def test_model_scores_lie_between_0_and_1_when_run_on_a_batch(model_session):
    numpy = pytest.importorskip("numpy")
    patches = numpy.random.default_rng(0).uniform(0.0, 5.0, (3, 187, 96)).astype(numpy.float16)
    mtt, msd, embedding = model_session.run(["mtt_scores", "msd_scores", "embedding"], {"patches": patches})
    assert mtt.shape == msd.shape == (3, 50)
    assert embedding.shape == (3, 200)
    assert ((mtt >= 0) & (mtt <= 1)).all() and ((msd >= 0) & (msd <= 1)).all()
