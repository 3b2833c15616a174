#!/usr/bin/env bash
# Prepares .gpu-bench/ for the Triton sweep on a lent GPU machine (scripts/run_gpu_bench.sh):
# Python 3.12 wheels of what that machine lacks (PyTriton, tritonclient, onnx2torch and their
# compiled dependencies) and a copy of the built model. Run here, where PyPI is reachable.
# The machine has torch, torchvision, onnx, onnxruntime, numpy, grpcio, protobuf, typer and
# wrapt already (see the device notes); these wheels go in with --no-deps.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/.gpu-bench
model=$root/inference/model_repository/musicnn/1/model.onnx
python=${PYTHON:-$(command -v python3.11 || command -v python3)}
[[ -f $model ]] || { echo "No model at $model: run make model first" >&2; exit 1; }

mkdir -p "$dir/wheels"
cp "$model" "$dir/model.onnx"
platforms=()
for tag in manylinux_2_39_x86_64 manylinux_2_35_x86_64 manylinux_2_34_x86_64 manylinux_2_31_x86_64 \
           manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
           manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$tag")
done
# One version of each, pinned like inference/requirements-triton.txt where it names them.
"$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$dir/wheels" \
  nvidia-pytriton==0.7.0 tritonclient==2.73.0 onnx2torch==1.5.15 pyzmq==27.3.0 sh==2.4.0 \
  python-rapidjson==1.25 importlib-metadata==10.2.0 gevent==26.9.0 greenlet==3.3.2 geventhttpclient==2.6.1 \
  brotli==1.2.1 zope.event==6.2 zope.interface==8.7 typing-inspect==0.9.0
# The PyTriton wheel (53 MB) would not fit the 64 MiB that travels to the machine: keep only
# the Python 3.12 backend stub, and drop the 3.13 stub's bundled libpython (32 MB unpacked).
"$python" - "$dir"/wheels/nvidia_pytriton-*.whl <<'PY'
import re, sys, zipfile
from pathlib import Path

wheel = Path(sys.argv[1])
unwanted = re.compile(r"python_backend_stubs/3\.(8|9|10|11|13)/|nvidia_pytriton\.libs/libpython3-")
trimmed = wheel.with_suffix(".trimmed")
with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(trimmed, "w", zipfile.ZIP_DEFLATED) as target:
    for item in source.infolist():
        if unwanted.search(item.filename):
            continue
        data = source.read(item)
        if item.filename.endswith(".dist-info/RECORD"):
            lines = data.decode().splitlines(keepends=True)
            data = "".join(line for line in lines if not unwanted.search(line)).encode()
        target.writestr(item, data)
trimmed.replace(wheel)
PY
du -sh "$dir"
echo "Ready: carry .gpu-bench and run scripts/run_gpu_bench.sh on the GPU machine." >&2
