"""The model build's canonical form (inference/onnx_canonical.py): the same computation gives the
same bytes whatever order and names the converter chose, and a different computation does not.

It needs onnx, which only the model's build venv has (inference/.venv-build, made by `make setup`),
so the checks run there in a subprocess. Building the real model twice (minutes, TensorFlow) is
`make model-reproducible`.
"""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from tests.infra.conftest import REPO_ROOT

BUILD_PYTHON = REPO_ROOT / "inference" / ".venv-build" / "bin" / "python"

pytestmark = pytest.mark.skipif(
    not BUILD_PYTHON.exists(), reason="no model build venv (inference/.venv-build): run `make model`"
)

# Two graphs computing y = relu(x * w + b), z = y + b with nodes in another order and other
# generated names, one with the same constant stored twice; then one with another constant.
_SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    sys.path.insert(0, "inference")
    from onnx_canonical import canonicalize

    def model(nodes, constants):
        graph = helper.make_graph(
            nodes, "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
            [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in constants],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    a = model(
        [helper.make_node("Mul", ["x", "w__1"], ["m__7"], name="mul__7"),
         helper.make_node("Add", ["m__7", "b__2"], ["a__9"], name="add__9"),
         helper.make_node("Relu", ["a__9"], ["y__3"], name="relu__3"),
         helper.make_node("Add", ["y__3", "b__2"], ["z"], name="out")],
        [("w__1", [2.0, 3.0]), ("b__2", [1.0, -1.0])],
    )
    b = model(
        [helper.make_node("Mul", ["x", "const_fold__44"], ["t__12"], name="n__12"),
         helper.make_node("Add", ["t__12", "bias__5"], ["t__13"], name="n__13"),
         helper.make_node("Relu", ["t__13"], ["t__14"], name="n__14"),
         helper.make_node("Add", ["t__14", "bias_copy__6"], ["z"], name="n__15")],
        [("bias_copy__6", [1.0, -1.0]), ("bias__5", [1.0, -1.0]), ("const_fold__44", [2.0, 3.0])],
    )
    other = model(
        [helper.make_node("Mul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
         helper.make_node("Relu", ["a"], ["y"]), helper.make_node("Add", ["y", "b"], ["z"])],
        [("w", [2.0, 4.0]), ("b", [1.0, -1.0])],
    )
    # Shuffle b's nodes: still a valid graph for the canonical form, which re-sorts them.
    shuffled = list(b.graph.node)[::-1]
    del b.graph.node[:]
    b.graph.node.extend(shuffled)
    for m in (a, b, other):
        canonicalize(m)
        onnx.checker.check_model(m, full_check=True)
    digest = lambda m: hashlib.sha256(m.SerializeToString()).hexdigest()
    print(digest(a), digest(b), digest(other), len(b.graph.initializer))
    """
)


def test_canonical_form_gives_equal_bytes_when_only_order_and_names_differ() -> None:
    completed = subprocess.run(
        [str(BUILD_PYTHON), "-c", _SCRIPT], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    digest_a, digest_b, digest_other, initializers = completed.stdout.split()
    assert digest_a == digest_b
    assert digest_other != digest_a
    assert initializers == "2", "the duplicated constant is stored once"
