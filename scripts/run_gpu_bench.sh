#!/usr/bin/env bash
# The Triton sweep on a lent GPU machine: installs the wheels of .gpu-bench (made here by
# scripts/prepare_gpu_bench.sh) into python3's site folder, then runs benchmarks/bench_triton_gpu.py with
# the gpu preset (PyTorch fp16 behind PyTriton, compared with onnxruntime fp32) and the cost
# model on its best throughput. About 5 minutes; results in $OUT (or ./gpu-bench-out).
# Known blocker (2026-12-02, BENCHMARKS.md "Triton sweep"): PyTriton 0.7.0 answers with empty
# outputs under numpy 2.x, which that machine has; numpy 1.26 does not fit in the same carry.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-bench-out}
mkdir -p "$out"
# Into the interpreter's own site folder (the machine is given back bare anyway): PyTriton takes
# an install elsewhere (pip --target) for an editable one and misses tritonserver's libraries,
# and its Python backend stub finds packages through the interpreter on PATH, not PYTHONPATH.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .gpu-bench/wheels/*.whl
export PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c "import sys, sysconfig; print(sys.version); print('libpython:', sysconfig.get_config_var('LIBDIR'), sysconfig.get_config_var('LDLIBRARY'))"
  python3 -c "import torch, onnx2torch, pytriton, tritonclient.grpc; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} 2>&1 | tee "$out/machine.txt"
timeout 480 python3 -m benchmarks.bench_triton_gpu --preset gpu --model-path .gpu-bench/model.onnx --check-onnx \
  --out "$out/triton_gpu.json" --table "$out/triton_gpu.md" 2>&1 | tee "$out/sweep.log"
python3 -m benchmarks.cost_model --triton-json "$out/triton_gpu.json" --gpu h100 | tee "$out/cost.md"
