"""A real Triton Inference Server for the musicnn ONNX model, on this machine, via PyTriton.

PyTriton ships the tritonserver binary in its wheel; the model runs inside a bound Python
function with onnxruntime, so no GPU and no Triton container are needed. It serves the same
model name, tensor names and shapes as inference/model_repository/musicnn (config.pbtxt), so
the Triton gRPC adapter of trackscan cannot tell it from the production server.

PyTriton pins numpy<2, so this script runs in its own venv (scripts/install_triton_venv.sh)
and imports nothing from trackscan:

    .venv-triton/bin/python inference/triton_local.py --grpc-port 8001 --http-port 8000

The batching options and ``--device cuda`` exist for benchmarks/bench_triton_gpu.py: on a GPU
machine the model runs in PyTorch (the ONNX graph converted by onnx2torch), fp16 by default.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "model_repository/musicnn/1/model.onnx"
PATCH_FRAMES, MEL_BANDS, TAGS_PER_MODEL, EMBEDDING_SIZE = 187, 96, 50, 200
# Matches config.pbtxt: batches of up to 256 patches, at most 2 ms of waiting to fill one. Its
# preferred sizes are for a GPU and left out here (--preferred-batch-sizes sets them).
MAX_BATCH_SIZE = 256
MAX_QUEUE_DELAY_US = 2000

ACCESS_TOKEN_ENV = "TRITON_LOCAL_ACCESS_TOKEN"

LOGGER = logging.getLogger("triton_local")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; defaults come from the same env vars trackscan reads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", type=Path, default=Path(os.environ.get("TRACKSCAN_MODEL_PATH") or MODEL_PATH))
    parser.add_argument("--model-name", default=os.environ.get("TRACKSCAN_TRITON_MODEL") or "musicnn")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument(
        "--exit-timeout-s", type=int, default=8, help="How long Triton drains in-flight requests when told to stop."
    )
    parser.add_argument("--max-batch-size", type=int, default=MAX_BATCH_SIZE)
    parser.add_argument("--max-queue-delay-us", type=int, default=MAX_QUEUE_DELAY_US)
    parser.add_argument(
        "--preferred-batch-sizes",
        default="",
        help="Comma-separated preferred batch sizes of the dynamic batcher (none by default).",
    )
    parser.add_argument("--instances", type=int, default=1, help="Model instances (one inference callable each).")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cpu: onnxruntime; cuda: PyTorch on the GPU (needs torch and onnx2torch).",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "fp16"),
        default="fp16",
        help="Precision of the model on cuda (the CPU path is always fp32).",
    )
    return parser.parse_args(argv)


def expose_libpython() -> None:
    """Puts the running Python's lib folder first on LD_LIBRARY_PATH for Triton's children.

    Triton's Python backend stub links libpython3.11.so dynamically. On pyenv machines the
    loader would otherwise find Debian's older /usr/lib libpython and the stub fails to start.
    The stub inherits this process's environment, so setting it here (before Triton starts) is
    enough.
    """
    lib_dir = sysconfig.get_config_var("LIBDIR")
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if lib_dir and lib_dir not in current.split(":"):
        os.environ["LD_LIBRARY_PATH"] = f"{lib_dir}:{current}" if current else lib_dir


def onnx_infer_fn(model_path: Path) -> Callable[..., dict[str, np.ndarray]]:
    """An inference callable for PyTriton that runs the ONNX model on a whole batch."""
    import onnxruntime as ort
    from pytriton.decorators import batch

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    output_names = [output.name for output in session.get_outputs()]

    @batch
    def infer(patches: np.ndarray) -> dict[str, np.ndarray]:
        results = session.run(output_names, {"patches": patches.astype(np.float16, copy=False)})
        pairs = zip(output_names, results, strict=True)
        return {name: np.asarray(value, dtype=np.float32) for name, value in pairs}

    return infer


def torch_cuda_infer_fn(model_path: Path, precision: str) -> Callable[..., dict[str, np.ndarray]]:
    """An inference callable running the ONNX graph in PyTorch on the GPU (fp16 or fp32).

    onnx2torch turns the graph into a torch module; scores come back as float32 like the ONNX
    path, so a client cannot tell the two apart except by speed and rounding. The graph's first
    node, the cast of its float16 input to float32, is taken out: the module runs in ``precision``.
    """
    import onnx
    import torch
    from onnx2torch import convert
    from pytriton.decorators import batch

    graph = onnx.load(str(model_path))
    without_input_cast(graph)
    output_names = [output.name for output in graph.graph.output]
    dtype = torch.float16 if precision == "fp16" else torch.float32
    module = convert(graph).eval().to(device="cuda", dtype=dtype)
    # Patch counts vary per request, so let cuDNN pick kernels per shape once and keep them.
    torch.backends.cudnn.benchmark = True

    @batch
    def infer(patches: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            inputs = torch.from_numpy(np.ascontiguousarray(patches)).to("cuda", dtype)
            results = module(inputs)
        results = results if isinstance(results, (tuple, list)) else (results,)
        pairs = zip(output_names, results, strict=True)
        return {name: value.float().cpu().numpy() for name, value in pairs}

    return infer


def without_input_cast(graph: Any) -> None:
    """Removes the Cast that turns the float16 input into float32, and types the input float32."""
    import onnx

    name = graph.graph.input[0].name
    cast = next(node for node in graph.graph.node if node.op_type == "Cast" and list(node.input) == [name])
    for node in graph.graph.node:
        node.input[:] = [name if value == cast.output[0] else value for value in node.input]
    graph.graph.node.remove(cast)
    graph.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.FLOAT


def infer_functions(args: argparse.Namespace) -> list[Callable[..., dict[str, np.ndarray]]]:
    """One inference callable per model instance, for the device the arguments name."""
    if args.device == "cuda":
        return [torch_cuda_infer_fn(args.model_path, args.precision) for _ in range(args.instances)]
    return [onnx_infer_fn(args.model_path) for _ in range(args.instances)]


def serve(args: argparse.Namespace) -> None:
    """Starts Triton with the musicnn model bound and blocks until SIGINT or SIGTERM."""
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

    started = time.monotonic()
    config = TritonConfig(
        http_address=args.host,
        http_port=args.http_port,
        grpc_address=args.host,
        grpc_port=args.grpc_port,
        # No metrics endpoint: one less port to collide with, and none is read locally.
        allow_metrics=False,
        exit_timeout_secs=args.exit_timeout_s,
    )
    # PyTriton guards the statistics and repository endpoints with a token it makes up; a caller
    # that reads statistics (the sweep benchmark) chooses the token instead.
    token = os.environ.get(ACCESS_TOKEN_ENV) or None
    with Triton(config=config, security_config=TritonSecurityConfig(access_token=token)) as triton:
        triton.bind(
            model_name=args.model_name,
            infer_func=infer_functions(args),
            inputs=[Tensor(name="patches", dtype=np.float16, shape=(PATCH_FRAMES, MEL_BANDS))],
            outputs=[
                Tensor(name="mtt_scores", dtype=np.float32, shape=(TAGS_PER_MODEL,)),
                Tensor(name="msd_scores", dtype=np.float32, shape=(TAGS_PER_MODEL,)),
                Tensor(name="embedding", dtype=np.float32, shape=(EMBEDDING_SIZE,)),
            ],
            config=ModelConfig(
                max_batch_size=args.max_batch_size,
                batcher=DynamicBatcher(
                    max_queue_delay_microseconds=args.max_queue_delay_us,
                    preferred_batch_size=[int(size) for size in args.preferred_batch_sizes.split(",") if size] or None,
                ),
            ),
            strict=True,
        )
        triton.connect()
        LOGGER.info(
            "Triton ready: model %s, gRPC %s:%d, HTTP %s:%d, started in %.1f s",
            args.model_name,
            args.host,
            args.grpc_port,
            args.host,
            args.http_port,
            time.monotonic() - started,
        )
        triton.serve()


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    # PyTriton's serve() stops cleanly (drains, removes its workspace) on KeyboardInterrupt only.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point: validates the model file, then serves it until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    if not args.model_path.is_file():
        raise SystemExit(f"No model at {args.model_path}: build it with `make model`.")
    expose_libpython()
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    serve(args)


if __name__ == "__main__":
    main()
