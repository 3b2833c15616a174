"""Converts musicnn's MTT and MSD checkpoints into one ONNX model; runs inside the build venv.

Both networks are rebuilt with musicnn's own models.define_model in one TF1-style graph, each
under its own variable scope, and each checkpoint is restored into its scope. (Importing the
shipped .meta graphs fails on TensorFlow 2.21.) The frozen graph goes through tf2onnx, and the
result is checked against TensorFlow graphs built exactly the way musicnn's extractor builds
them, so a wrong scope mapping or a wrong conversion both fail the build. The same inputs give
the same bytes: the graph is put in a canonical form (onnx_canonical.py) and the metadata holds
nothing that varies from run to run or machine to machine (no timings, no measured differences).

Model: input "patches" float16 [N, 187, 96] (log-mel patches, which the graph casts to float32
first: half the bytes of float32 on the way to Triton, for a rounding of at most 0.002 on values
up to about 6); outputs "mtt_scores" [N, 50] and "msd_scores" [N, 50] (sigmoid of each model's
logits) and "embedding" [N, 200] (the penultimate layer of MSD_musicnn, which musicnn's
extractor calls "penultimate"), float32.
"""

from __future__ import annotations

import os

# TensorFlow reads its environment variables when first imported, so they are set before it.
# tf.compat.v1.layers, which musicnn's models.py uses, exist only with Keras 2 (tf-keras).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN's kernels may reorder float sums by CPU; the constants TensorFlow folds while tf2onnx
# optimizes the graph must not depend on the machine that builds the model.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import importlib
import json
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import onnxruntime
import tensorflow as tf
import tf2onnx
from onnx_canonical import canonicalize
from tf2onnx import tf_loader

INPUT_NAME = "patches"
OUTPUT_NAMES = ("mtt_scores", "msd_scores", "embedding")
PATCH_FRAMES = 187
N_MELS = 96
NUM_TAGS = 50
OPSET = 17
MAX_ABS_DIFF = 1e-4
# Variable scope in the combined graph -> musicnn model (and checkpoint folder) name.
SCOPES = {"mtt": "MTT_musicnn", "msd": "MSD_musicnn"}

log = logging.getLogger("build_model")


@dataclass(frozen=True)
class Conversion:
    """A converted model and how far it strayed from TensorFlow, per output."""

    model_bytes: bytes
    max_abs_diff: dict[str, float]


class ParityError(RuntimeError):
    """The ONNX model does not compute what TensorFlow computes."""


def convert(musicnn_root: Path, wheel_sha256: str) -> Conversion:
    """Builds, checks and annotates the combined model from an extracted musicnn wheel."""
    models, configuration = import_musicnn(musicnn_root)
    model = to_onnx(frozen_combined_graph(models, musicnn_root))
    canonicalize(model)
    batches = parity_batches()
    reference = tensorflow_reference(models, musicnn_root, batches)
    max_abs_diff = check_parity(model.SerializeToString(), reference, batches)
    annotate(model, configuration, wheel_sha256)
    onnx.checker.check_model(model, full_check=True)
    return Conversion(model.SerializeToString(), max_abs_diff)


def import_musicnn(musicnn_root: Path) -> tuple[ModuleType, ModuleType]:
    """Imports musicnn's models and configuration modules from the extracted wheel."""
    tf.compat.v1.disable_eager_execution()  # musicnn's graph code is TF1 graph mode
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    # Every tf.compat.v1.layers call warns that it is deprecated: known, and not ours to fix.
    warnings.filterwarnings("ignore", category=UserWarning, message=".*is deprecated")
    sys.path.insert(0, str(musicnn_root))
    models = importlib.import_module("musicnn.models")
    return models, importlib.import_module("musicnn.configuration")


def checkpoint_prefix(musicnn_root: Path, model_name: str) -> str:
    """The checkpoint prefix of a musicnn model."""
    # The files are named ".index" and ".data-00000-of-00001": the prefix is the folder plus "/".
    return f"{musicnn_root / 'musicnn' / model_name}/"


def frozen_combined_graph(models: ModuleType, musicnn_root: Path) -> tf.compat.v1.GraphDef:
    """Both models on one input, weights restored and frozen into constants."""
    graph = tf.Graph()
    with graph.as_default():
        patches = tf.compat.v1.placeholder(tf.float16, [None, PATCH_FRAMES, N_MELS], INPUT_NAME)
        as_float32 = tf.cast(patches, tf.float32)
        mtt_logits, _ = define_scoped(models, as_float32, "mtt")
        msd_logits, msd_penultimate = define_scoped(models, as_float32, "msd")
        tf.nn.sigmoid(mtt_logits, name="mtt_scores")
        tf.nn.sigmoid(msd_logits, name="msd_scores")
        tf.identity(msd_penultimate, name="embedding")
        with tf.compat.v1.Session(graph=graph) as session:
            for scope, model_name in SCOPES.items():
                restore_into_scope(session, scope, checkpoint_prefix(musicnn_root, model_name))
            outputs = [f"{name}:0" for name in OUTPUT_NAMES]
            return tf_loader.freeze_session(session, [f"{INPUT_NAME}:0"], outputs)


def define_scoped(models: ModuleType, patches: tf.Tensor, scope: str) -> tuple[tf.Tensor, tf.Tensor]:
    """Defines one musicnn model under a variable scope; returns (logits, penultimate)."""
    with tf.compat.v1.variable_scope(scope):
        outputs = models.define_model(patches, False, SCOPES[scope], NUM_TAGS)
    return outputs[0], outputs[-1]


def restore_into_scope(session: tf.compat.v1.Session, scope: str, prefix: str) -> None:
    """Restores a checkpoint saved without scope into the variables of one scope."""
    variables = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES, f"{scope}/")
    # The checkpoint names "dense/kernel" what this graph names "msd/dense/kernel". Every
    # variable of the scope is listed, so one the checkpoint lacks fails the restore.
    var_list = {variable.op.name.removeprefix(f"{scope}/"): variable for variable in variables}
    tf.compat.v1.train.Saver(var_list=var_list).restore(session, prefix)


def to_onnx(graph_def: tf.compat.v1.GraphDef) -> onnx.ModelProto:
    """Converts the frozen graph with tf2onnx; names the tensors and the batch dimension."""
    renames = {f"{name}:0": name for name in (INPUT_NAME, *OUTPUT_NAMES)}
    model, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        name="musicnn",
        input_names=[f"{INPUT_NAME}:0"],
        output_names=[f"{name}:0" for name in OUTPUT_NAMES],
        opset=OPSET,
        tensors_to_rename=renames,
    )
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "N"  # instead of tf2onnx's "unk__316"
    return model


def parity_batches(seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs for the parity check: random, and structured like real log-mel patches.

    float32 values that float16 holds exactly, so TensorFlow's float32 graph and the model's
    float16 input see the same numbers.
    """
    rng = np.random.default_rng(seed)
    frames = np.arange(PATCH_FRAMES, dtype=np.float32)[:, None]
    bands = np.arange(N_MELS, dtype=np.float32)[None, :]
    one = np.ones((1, PATCH_FRAMES, N_MELS), np.float32)
    # log10(10000 * power + 1) of music lies roughly in [0, 6].
    batches = {
        "random_normal": rng.standard_normal((8, PATCH_FRAMES, N_MELS), np.float32),
        "random_log_mel": rng.uniform(0.0, 6.0, (16, PATCH_FRAMES, N_MELS)).astype(np.float32),
        "silence": 0.0 * one,
        "loud_constant": 6.0 * one,
        "spectral_tilt": one * (5.0 - bands / 20.0),
        "clicks_every_16_frames": one * 4.0 * (frames % 16 == 0),
        "sweep": one * 5.0 * (np.abs(bands - frames * N_MELS / PATCH_FRAMES) < 2.0),
    }
    return {case: batch.astype(np.float16).astype(np.float32) for case, batch in batches.items()}


def tensorflow_reference(
    models: ModuleType, musicnn_root: Path, batches: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """TensorFlow's outputs per batch, from one plain graph per model as musicnn builds it."""
    reference: dict[str, dict[str, np.ndarray]] = {case: {} for case in batches}
    for scope, model_name in SCOPES.items():
        graph = tf.Graph()
        with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
            patches = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, N_MELS])
            outputs = models.define_model(patches, False, model_name, NUM_TAGS)
            fetches = {f"{scope}_scores": tf.nn.sigmoid(outputs[0]), "embedding": outputs[-1]}
            if scope != "msd":
                del fetches["embedding"]  # the embedding is MSD_musicnn's
            tf.compat.v1.train.Saver().restore(session, checkpoint_prefix(musicnn_root, model_name))
            for case, batch in batches.items():
                reference[case].update(session.run(fetches, {patches: batch}))
    return reference


def check_parity(
    model_bytes: bytes, reference: dict[str, dict[str, np.ndarray]], batches: dict[str, np.ndarray]
) -> dict[str, float]:
    """Runs the model in onnxruntime; raises ParityError unless it matches TensorFlow."""
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    worst = dict.fromkeys(OUTPUT_NAMES, 0.0)
    for case, batch in batches.items():
        results = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch.astype(np.float16)})
        for name, actual in zip(OUTPUT_NAMES, results, strict=True):
            expected = reference[case][name]
            if actual.shape != expected.shape:
                raise ParityError(f"{case}/{name}: shape {actual.shape}, expected {expected.shape}")
            worst[name] = max(worst[name], float(np.max(np.abs(actual - expected))))
    if max(worst.values()) > MAX_ABS_DIFF:
        raise ParityError(f"ONNX differs from TensorFlow by more than {MAX_ABS_DIFF}: {worst}")
    return worst


def annotate(model: onnx.ModelProto, configuration: ModuleType, wheel_sha256: str) -> None:
    """Records provenance, tag lists and the expected front end in the model's metadata."""
    front_end = {
        "sample_rate_hz": configuration.SR,
        "n_fft": configuration.FFT_SIZE,
        "hop_length": configuration.FFT_HOP,
        "n_mels": configuration.N_MELS,
        "patch_frames": PATCH_FRAMES,
        "log": "log10(10000 * mel_power + 1), in float32, rounded to float16 as the input",
    }
    onnx.helper.set_model_props(
        model,
        {
            "source": "musicnn 0.1.0 wheel from PyPI: MTT_musicnn and MSD_musicnn checkpoints",
            "source_wheel_sha256": wheel_sha256,
            "mtt_tags": json.dumps(list(configuration.MTT_LABELS)),
            "msd_tags": json.dumps(list(configuration.MSD_LABELS)),
            "embedding": "MSD_musicnn penultimate layer (batch-normalized 200-unit dense)",
            "front_end": json.dumps(front_end),
            # The bound the build checked, not the measured differences: those depend on the
            # thread count and CPU of the build machine, and would change the model's sha256.
            "parity_max_abs_diff_bound": json.dumps(MAX_ABS_DIFF),
        },
    )
    model.doc_string = "musicnn MTT and MSD taggers on shared log-mel patches, with the MSD embedding"
